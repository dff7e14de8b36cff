import { samplingPoint } from './sampling.js';
import { uuidv7 } from './uuidv7.js';

/** A session as kept for the other tabs and the next page loads: its id and last activity. */
export interface KeptSession {
  readonly id: string;
  readonly lastMs: number;
  /** The sampling point of the distinct id the session started with (`samplingPointFor`). */
  readonly samplingPoint?: number | undefined;
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
  /** The current session's sampling point, once an event of it was built (`samplingPointFor`). */
  private point: number | undefined;
  private readonly store: SessionStore | undefined;
  private readonly writeIntervalMs: number;

  /**
   * `mayWrite`: whether the store may be written now. Not while consent is denied, or may be:
   * the session id is an identifier kept on the device, like the install id. Until it may, the
   * session lives in memory (a kept one is still joined) and is written at the next event after.
   */
  constructor(
    private readonly idleMs: number,
    store?: SessionStore,
    private readonly mayWrite: () => boolean = () => true,
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
    } else if (idle) this.begin(uuidv7(nowMs));
    // Also after a clock step back: the session stays alive and its idle time counts from the
    // step. Kept at the time before it, the session outlived sessionIdleMs by the size of the step.
    this.lastMs = nowMs;
    return this.id;
  }

  /** The next event starts a new session (a `reset()`), in the store too. */
  restart(): void {
    this.begin('');
    this.fresh = true;
  }

  /**
   * What deterministic sampling decides an event of session `sessionId` by: the sampling point
   * of the distinct id the session's first built event had, kept with the session for its other
   * page loads and tabs. So a session in which `identify()` changes the id is kept or dropped
   * whole, `$identify` included: decided by each event's own id, the events before it followed
   * the anonymous id's decision and the ones after it the user's, and a dropped `$identify` lost
   * the link between the two. The point, not the id, is kept: it says nothing of whose it is.
   * An event built after its session ended (it waited) is decided by its own id.
   */
  samplingPointFor(sessionId: string, distinctId: string): number {
    if (sessionId !== this.id || this.id === '') return samplingPoint(distinctId);
    if (this.point !== undefined) return this.point;
    const kept = this.store?.read();
    if (kept?.id === this.id && isPoint(kept.samplingPoint)) {
      this.point = kept.samplingPoint;
      return this.point;
    }
    this.point = samplingPoint(distinctId);
    if (this.store !== undefined && this.mayWrite()) {
      // Another tab's later activity stays: written back older, the visit could end early.
      const lastMs = kept?.id === this.id ? Math.max(this.lastMs, kept.lastMs) : this.lastMs;
      this.store.write({ id: this.id, lastMs, samplingPoint: this.point });
      this.writtenMs = lastMs;
    }
    return this.point;
  }

  private begin(id: string): void {
    this.id = id;
    this.point = undefined;
  }

  private sync(store: SessionStore, nowMs: number, idle: boolean): void {
    const kept = this.fresh ? undefined : store.read();
    this.fresh = false;
    // A kept time ahead of the clock (written before a step back) is joined, and the time
    // written below, now, brings the store back to the clock.
    if (kept !== undefined && nowMs - (kept.lastMs + this.writeIntervalMs) < this.idleMs) {
      if (kept.id !== this.id) this.begin(kept.id);
      // Another tab or load may have decided it since this one looked.
      if (isPoint(kept.samplingPoint)) this.point = kept.samplingPoint;
    } else if (idle) this.begin(uuidv7(nowMs));
    if (!this.mayWrite()) return;
    store.write({ id: this.id, lastMs: nowMs, samplingPoint: this.point });
    this.writtenMs = nowMs;
  }
}

function isPoint(value: unknown): value is number {
  return typeof value === 'number' && value >= 0 && value < 1;
}
