/** What the tests of things not ours in the outbox directory share (notAFile, notOursInPlace). */
import type { OutboxRecord } from '../outbox.js';
import { FileOutbox } from './FileOutbox.js';

/** A file outbox on `directory` whose warnings go to `warnings` as `message context-json` lines. */
export function outboxWarningInto(directory: string, warnings: string[]): FileOutbox {
  return new FileOutbox({
    directory,
    logger: {
      debug() {},
      warn: (m: string, c?: unknown) => void warnings.push(`${m} ${JSON.stringify(c)}`),
      error() {},
    },
  });
}

export const record = (uuid: string): OutboxRecord => ({
  uuid,
  json: JSON.stringify({ u: uuid }),
  timestampMs: Date.now(),
});

/** `promise`, or a rejection naming `what` after `ms` (a hang fails the test instead of the run). */
export function within<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle in ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
