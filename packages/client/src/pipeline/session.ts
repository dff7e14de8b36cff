import { uuidv7 } from './uuidv7.js';

/** A session as kept for the other tabs and the next page loads: its id and last activity. */
export interface KeptSession {
  readonly id: string;
  readonly lastMs: number;
}

/**
 * Where a page keeps its session (localStorage: `telemetry/sessionLocalStorage.ts`). Neither
 * call may throw: a storage that cannot be used answers undefined and keeps nothing, and the
 * session then lives in memory only.
 */
export interface SessionStore {
  read(): KeptSession | undefined;
  write(session: KeptSession): void;
}

/** How often, at most, a session's activity is written back to its store, ms. */
export const SESSION_WRITE_INTERVAL_MS = 5_000;

/**
 * `$session_id`: a UUIDv7 that rotates once no event was tracked for `idleMs`.
 *
 * Without a store it lives in memory: a process restart starts a new session, which is what a
 * CLI run is. With one (a page), the tabs and page loads of an origin share it: a session in the
 * store still live is joined, and the one in the store wins when two differ (two tabs that
 * rotated at once settle on one). Writing on every event would cost a storage write per
 * `track()`, so the activity is written when the session changes and then at most once per
 * `writeIntervalMs`; the store's time can thus lag the last event by up to that, and a session
 * read from the store counts as that much more recent. So a session never rotates while events
 * keep coming, in any tab; it may outlive `idleMs` by up to `writeIntervalMs`.
 */
export class Session {
  private id = '';
  private lastMs = Number.NEGATIVE_INFINITY;
  private writtenMs = Number.NEGATIVE_INFINITY;
  /** `restart` was called: the next event starts a session of its own, whatever the store says. */
  private fresh = false;
  private readonly store: SessionStore | undefined;
  private readonly writeIntervalMs: number;

  constructor(
    private readonly idleMs: number,
    store?: SessionStore,
  ) {
    // With sessionIdleMs 0 every event is a session of its own: nothing to share.
    this.store = idleMs > 0 ? store : undefined;
    this.writeIntervalMs = Math.min(SESSION_WRITE_INTERVAL_MS, Math.floor(idleMs / 10));
  }

  /** The session id for an event at `nowMs`, rotating first when idle too long. */
  touch(nowMs: number): string {
    const idle = this.id === '' || nowMs - this.lastMs >= this.idleMs;
    // After a clock step back the store still holds the time before the step: it is written at
    // once, or the other tabs, and this one's next rotation, would count the session active
    // for the size of the step.
    const steppedBack = nowMs < this.writtenMs;
    if (this.store !== undefined && (idle || steppedBack || nowMs - this.writtenMs >= this.writeIntervalMs)) {
      this.sync(this.store, nowMs, idle);
    } else if (idle) this.id = uuidv7(nowMs);
    // Also after a clock step back: the session stays alive and its idle time counts from the
    // step. Kept at the time before it, the session outlived sessionIdleMs by the size of the step.
    this.lastMs = nowMs;
    return this.id;
  }

  /** The next event starts a new session (a `reset()`), in the store too. */
  restart(): void {
    this.id = '';
    this.fresh = true;
  }

  private sync(store: SessionStore, nowMs: number, idle: boolean): void {
    const kept = this.fresh ? undefined : store.read();
    this.fresh = false;
    // A kept time ahead of the clock (written before a step back) is joined, and the time
    // written below, now, brings the store back to the clock.
    if (kept !== undefined && nowMs - (kept.lastMs + this.writeIntervalMs) < this.idleMs) this.id = kept.id;
    else if (idle) this.id = uuidv7(nowMs);
    store.write({ id: this.id, lastMs: nowMs });
    this.writtenMs = nowMs;
  }
}
