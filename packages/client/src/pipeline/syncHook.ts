import { isThenable } from '../isThenable.js';

/**
 * The app's hooks (`beforeSend`, `redaction.custom`, `redaction.patterns.redact`) run inside
 * `track()`, which cannot wait for them: an async hook answers a Promise, which is refused (the
 * event dropped, counted with `ASYNC_HOOK`), never taken for an answer. Its rejection is handled
 * here first: unhandled, it would reach the host, and end a Node process.
 */
export const ASYNC_HOOK = 'returned a Promise: hooks must be synchronous';

const ignore = (): void => undefined;

/** true when `answer` is a thenable, whose rejection, if any, is then handled and ignored. */
export function isAsyncAnswer(answer: unknown): boolean {
  if (!isThenable(answer)) return false;
  try {
    // The same Promise when it is a native one; a thenable is adopted, its `then` called later.
    Promise.resolve(answer).then(undefined, ignore);
  } catch {
    // A Promise whose `constructor` getter throws: there is nothing more it lets us do.
  }
  return true;
}
