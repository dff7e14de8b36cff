import { OutboxIoError } from '../errors.js';
import type { DeliveryLock } from '../indexeddb/deliveryLock.js';

/** How long `clear`, `replayDeadLetters` and `purgeDeadLetters` wait for another tab's lock. */
const LOCK_WAIT_MS = 5_000;

/**
 * The localStorage outbox's work under the delivery lock between tabs: localStorage has no
 * transactions, so only the holder changes existing chunks. Each piece of work is a section
 * that takes the lock if it is free and lets it go after, unless something is still claimed
 * (`claimed`) or another section runs.
 */
export class LockSections {
  /** Sections running with the delivery lock taken (see `holding`). */
  private sections = 0;

  constructor(
    private readonly lock: DeliveryLock,
    /** Whether any batch is in flight: the lock is kept then. */
    private readonly claimed: () => boolean,
    private readonly closed: () => boolean,
  ) {}

  /** Whether this tab held the lock at its last acquire. */
  get held(): boolean {
    return this.lock.held;
  }

  /** Lets the lock go (close). */
  release(): Promise<void> {
    return this.lock.release();
  }

  /**
   * Runs `fn` with the delivery lock taken if it is free (`holder`: whether this tab holds it),
   * then lets the lock go if nothing is claimed, so an idle tab lets a foreground tab deliver.
   * Sections overlap (a write, a claim and a size at once): the lock is let go only when none is
   * running and nothing is claimed, decided on the turn it goes, after the lock's own awaits.
   * Deciding earlier let a claim that had just been told "held" take a batch after the lock was
   * gone, and another tab claim the same records.
   */
  async holding<T>(fn: (holder: boolean) => T, letGo = true): Promise<T> {
    this.sections++;
    let holder = false;
    try {
      holder = (await this.lock.acquire()) && this.lock.held;
      return fn(holder);
    } finally {
      this.sections--;
      if (holder && letGo && !this.closed()) {
        await this.lock.release(() => this.claimed() || this.sections > 0);
      }
    }
  }

  /** `holding` for work that awaits: the lock is kept until `fn` has settled. */
  async holdingWhile<T>(fn: (holder: boolean) => Promise<T>): Promise<T> {
    this.sections++;
    let holder = false;
    try {
      holder = (await this.lock.acquire()) && this.lock.held;
      return await fn(holder);
    } finally {
      this.sections--;
      if (holder && !this.closed()) await this.lock.release(() => this.claimed() || this.sections > 0);
    }
  }

  /** Runs `fn` as the lock holder, waiting up to 5 s for another tab to let the lock go. */
  async withLock<T>(operation: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      // Held before: not let go after (a claim's batch, or the caller's own section).
      const had = this.lock.held;
      const done = await this.holding((holder) => (holder ? { value: fn() } : null), !had);
      if (done !== null) return done.value;
      if (Date.now() >= deadline) {
        throw new OutboxIoError(operation, { cause: new Error('another tab holds the outbox lock') });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
