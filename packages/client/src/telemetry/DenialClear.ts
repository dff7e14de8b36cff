import type { ClientDropReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxRecord } from '../outbox/outbox.js';
import { describe } from './EventBuilder.js';

export interface DenialClearHooks {
  readonly logger: Logger;
  readonly drop: (reason: ClientDropReason, count: number, detail?: string) => void;
  /** Records went into the outbox: delivery is told, as for a tracked event. */
  readonly notify: (count: number, bytes: number) => void;
}

/**
 * What a denial does to what is held: `outbox.clear()`, then the dead letters purged. Records
 * built while that runs (consent granted or pending again meanwhile) are held here and appended
 * once it ends: a clear empties the whole queue when it gets to it, so records appended during
 * it were deleted too (and counted as consent drops); a denial is about what was held when it
 * was set.
 */
export class DenialClear {
  /** Records held while a clear runs; null while none runs. */
  private held: OutboxRecord[] | null = null;
  /** Settles once the latest clear ended and the records it held are in the outbox. */
  private running: Promise<void> | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly maxHeld: number,
    private readonly hooks: DenialClearHooks,
  ) {}

  /** Whether a clear runs, so a record built now must be held (`hold`), not appended. */
  get holding(): boolean {
    return this.held !== null;
  }

  /** Resolves once no clear runs, one started while waiting included. */
  async settled(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Holds a record built while a clear runs; false when it was dropped (too many held). */
  hold(record: OutboxRecord): boolean {
    const held = this.held!;
    if (held.length >= this.maxHeld) {
      this.hooks.drop('overflow', 1, 'waiting for a consent clear to end');
      return false;
    }
    held.push(record);
    return true;
  }

  /** Starts the clear of a denial (after one still running, which could otherwise end after it). */
  start(): void {
    // What an earlier clear still held was tracked before this denial: dropped with the rest.
    if (this.held !== null) this.hooks.drop('consent', this.held.length);
    const held: OutboxRecord[] = [];
    this.held = held;
    // After an earlier clear still running: it could end after this one and take what this
    // one holds back. Counted through the outbox's onDrop (reason 'consent').
    this.running = (this.running ?? Promise.resolve())
      .then(() => this.outbox.clear())
      .then(
        () => undefined,
        (error: unknown) => this.hooks.logger.warn('could not clear held events', { error }),
      )
      .then(() => this.purgeDeadLetters())
      .then(() => {
        // A later denial replaced `held` (and counted it): that clear's end releases its own.
        if (this.held === held) this.release();
      });
  }

  /** Appends what was tracked while a clear ran, now that it ended (or cannot end: exit). */
  release(): void {
    const held = this.held;
    this.held = null;
    this.running = undefined;
    if (held === null || held.length === 0) return;
    try {
      this.outbox.append(held);
      let bytes = 0;
      for (const r of held) bytes += r.json.length;
      this.hooks.notify(held.length, bytes);
    } catch (error) {
      // `append` never throws by contract; an Outbox of the app's own might.
      this.hooks.drop('unsaved', held.length, describe(error));
    }
  }

  /**
   * Dead letters are held events too, and a replay (`homing dead-letters --replay`) would send
   * them after a denial. Not counted again (they were, as dead-lettered). An app's own Outbox
   * written in JavaScript may lack the method: nothing to purge there.
   */
  private async purgeDeadLetters(): Promise<void> {
    if (typeof this.outbox.purgeDeadLetters !== 'function') return;
    try {
      const purged = await this.outbox.purgeDeadLetters();
      if (purged > 0) this.hooks.logger.debug('consent denied: dead letters purged', { count: purged });
    } catch (error) {
      this.hooks.logger.warn('could not purge the dead letters after a denial', { error });
    }
  }
}
