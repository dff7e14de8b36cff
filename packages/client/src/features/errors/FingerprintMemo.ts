import type { ExceptionEntry, StackFrame } from './types.js';

/** Messages remembered per stack; past this the stack's memo starts over. */
const MESSAGES_PER_STACK = 64;

/**
 * Fingerprints of recent (stack, type, message) triples. A stack is known by the identity of its
 * frames array, which `ParsedStackCache` shares between errors thrown from the same place, so a
 * bug that fires on every request is normalised and hashed once instead of each time. Entries
 * live as long as the cache keeps that stack (weakly held here).
 */
export class FingerprintMemo {
  readonly #byStack = new WeakMap<readonly StackFrame[], Map<string, string>>();

  constructor(private readonly compute: (entry: ExceptionEntry) => string) {}

  of(entry: ExceptionEntry): string {
    const frames = entry.stacktrace.frames;
    // Frames parsed fresh for this error (no cache) are never seen again: nothing to remember.
    if (!Object.isFrozen(frames)) return this.compute(entry);
    let memo = this.#byStack.get(frames);
    if (memo === undefined) this.#byStack.set(frames, (memo = new Map()));
    const key = `${entry.type}\n${entry.value}`;
    let fingerprint = memo.get(key);
    if (fingerprint === undefined) {
      fingerprint = this.compute(entry);
      if (memo.size >= MESSAGES_PER_STACK) memo.clear();
      memo.set(key, fingerprint);
    }
    return fingerprint;
  }
}
