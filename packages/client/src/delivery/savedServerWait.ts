/**
 * A wait an endpoint asked for (`Retry-After` on a 429 or 503, or a 429 without one), kept in
 * the outbox's state so that the next process honours it too. The breaker alone could not: a
 * 429 shows the endpoint is alive and never counts against it, and a CLI run lasts less than
 * one Retry-After, so each run sent its whole backlog to a server that had asked for two
 * minutes of quiet (55 requests from 60 runs in 11 s, measured).
 */
export interface SavedServerWait {
  /** No request before this time (ms since the epoch). */
  readonly untilMs: number;
  /** How long the wait was when it was set: a clock stepped back cannot make it longer. */
  readonly waitMs: number;
}

/** Outbox state key of an endpoint's saved wait. */
export function serverWaitStateKey(endpointId: string): string {
  return `retry:${endpointId}`;
}

/**
 * The saved wait still in force at `now`, as `{ untilMs, waitMs }` with the wait cut to
 * `maxWaitMs` (the app's `maxRetryAfterMs`) and to its own length from now; null for anything
 * else (over, damaged, hand-edited, from another version).
 */
export function savedServerWaitAt(saved: unknown, now: number, maxWaitMs: number): SavedServerWait | null {
  if (saved === null || typeof saved !== 'object') return null;
  const { untilMs, waitMs } = saved as { untilMs?: unknown; waitMs?: unknown };
  if (typeof untilMs !== 'number' || typeof waitMs !== 'number') return null;
  if (!Number.isFinite(untilMs) || !Number.isFinite(waitMs) || waitMs <= 0) return null;
  if (untilMs <= now) return null;
  const length = Math.min(waitMs, maxWaitMs);
  return { untilMs: Math.min(untilMs, now + length), waitMs: length };
}
