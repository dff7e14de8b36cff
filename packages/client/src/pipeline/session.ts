import { uuidv7 } from './uuidv7.js';

/**
 * `$session_id`: a UUIDv7 that rotates once no event was tracked for `idleMs`. Kept in memory
 * only: a process restart starts a new session, which is what a CLI run is.
 */
export class Session {
  private id = '';
  private lastMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly idleMs: number) {}

  /** The session id for an event at `nowMs`, rotating first when idle too long. */
  touch(nowMs: number): string {
    if (this.id === '' || nowMs - this.lastMs >= this.idleMs) this.id = uuidv7(nowMs);
    // A clock step back does not rewind the idle window.
    if (nowMs > this.lastMs) this.lastMs = nowMs;
    return this.id;
  }
}
