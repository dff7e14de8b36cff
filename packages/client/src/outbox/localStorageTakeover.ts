import type { Logger } from '../logger.js';
import type { IndexedDBOutbox } from './indexeddb.js';
import type { LocalStorageOutbox } from './localStorage.js';
import type { OutboxDrop } from './outbox.js';

/** Wait before trying again when another tab held the delivery lock (or the move failed), ms; doubled each time up to `RETRY_MAX_MS`. */
const RETRY_FIRST_MS = 2_000;
const RETRY_MAX_MS = 60_000;

export interface TakeoverDeps {
  /**
   * The localStorage outbox of the same name, or null when localStorage holds none of its records
   * or dead letters (the usual case: then none is made). Throws when localStorage cannot be used.
   */
  readonly open: () => LocalStorageOutbox | null;
  readonly target: IndexedDBOutbox;
  /** Records dropped instead of moved (stored before a `clear`): counted as consent drops. */
  readonly dropped: (count: number) => void;
  /** The localStorage outbox's own drops on the way (retention, damaged records). */
  readonly forward: (drop: OutboxDrop) => void;
  readonly logger: Logger;
}

/** What one attempt dropped instead of moving. */
interface Dropped {
  records: number;
  deadLetters: number;
}

const NONE: Dropped = { records: 0, deadLetters: 0 };

/**
 * Moves into the IndexedDB outbox what a localStorage outbox of the same name left behind: a page
 * load whose IndexedDB open failed, or did not answer in time (`OPEN_TIMEOUT_MS`, perhaps only
 * slow), kept its records there, and a later load where IndexedDB opens would never read them.
 *
 * The records and dead letters are handed over as the holder of the delivery lock
 * (`LocalStorageOutbox.handOver`), so two tabs never both take them; they are appended and
 * written here first, then removed there: cut short in between, they are moved again and sent
 * twice at worst (the uuid dedups them), never lost. Dead letters are moved too, keeping their
 * reason and time (deduped by uuid as they are added), so `listDeadLetters` shows them all.
 * When another tab holds the lock (it delivers, or is a live fallback), this tries again later.
 *
 * After a `clear` (consent withdrawn), what localStorage still holds from before it is dropped,
 * not moved; likewise dead letters after a purge of all of them.
 */
export class LocalStorageTakeover {
  private running: Promise<Dropped> = Promise.resolve(NONE);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private retryMs = RETRY_FIRST_MS;
  private stopped = false;
  private clearedAtMs = -Infinity;
  private purgedAtMs = -Infinity;
  /**
   * Uuids of records an attempt appended to the target that it could not persist (a full origin
   * holds them in memory and delivers them from there; a failed write keeps them in its buffer):
   * not appended again by the next attempt, which would send them once more per attempt. They
   * leave localStorage once the target persists (or has delivered) them.
   */
  private readonly appended = new Set<string>();

  constructor(private readonly deps: TakeoverDeps) {}

  /** One attempt, after any still running. Never rejects. */
  run(): Promise<Dropped> {
    const attempt = this.running.then(() => this.attempt()).catch(() => NONE);
    this.running = attempt;
    return attempt;
  }

  /** Resolves once no attempt runs (one queued meanwhile included). */
  async idle(): Promise<void> {
    let seen;
    do {
      seen = this.running;
      await seen;
    } while (seen !== this.running);
  }

  /**
   * The IndexedDB outbox is being cleared: records stored up to `nowMs` are dropped from now on
   * (an attempt filters them after this call; await `idle()` for one that filtered before).
   */
  dropRecordsUpTo(nowMs: number): void {
    this.clearedAtMs = Math.max(this.clearedAtMs, nowMs);
  }

  /** Every dead letter is being purged: as `dropRecordsUpTo`, for dead letters. */
  dropDeadLettersUpTo(nowMs: number): void {
    this.purgedAtMs = Math.max(this.purgedAtMs, nowMs);
  }

  /** No more attempts; resolves once one running has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async attempt(): Promise<Dropped> {
    if (this.stopped) return NONE;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    let from: LocalStorageOutbox | null;
    try {
      from = this.deps.open();
    } catch (error) {
      // Blocked, or too full for the outbox's probe write: tried again at the next page load.
      this.deps.logger.debug('localStorage cannot be used: what a fallback left waits', { error });
      return NONE;
    }
    if (from === null) return NONE;
    from.onDrop(this.deps.forward);
    const dropped = { ...NONE };
    let moved: { records: number; deadLetters: number } | null;
    try {
      moved = await from.handOver(async (records, deadLetters) => {
        const { target } = this.deps;
        const kept = records.filter((r) => r.timestampMs > this.clearedAtMs);
        const letters = deadLetters.filter((dl) => dl.deadLetteredAtMs > this.purgedAtMs);
        const fresh = kept.filter((r) => !this.appended.has(r.uuid));
        if (fresh.length > 0) target.append(fresh);
        for (const r of fresh) this.appended.add(r.uuid);
        if (kept.length > 0) await target.persist();
        await target.adoptDeadLetters(letters);
        dropped.records = records.length - kept.length;
        dropped.deadLetters = deadLetters.length - letters.length;
      });
    } catch (error) {
      this.deps.logger.warn(
        'could not take over the records a localStorage outbox left; they stay there and are tried again',
        { error },
      );
      moved = null;
    } finally {
      await from.close();
    }
    if (moved === null) {
      this.retryLater();
      return NONE;
    }
    this.retryMs = RETRY_FIRST_MS;
    this.appended.clear();
    this.deps.dropped(dropped.records);
    this.deps.logger.debug(
      `took over ${moved.records - dropped.records} records and ${moved.deadLetters - dropped.deadLetters} dead letters a localStorage outbox left`,
    );
    return dropped;
  }

  private retryLater(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, this.retryMs);
    (this.timer as { unref?: () => void }).unref?.();
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
