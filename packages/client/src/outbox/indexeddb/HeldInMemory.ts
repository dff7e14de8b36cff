import { exponentialBackoff } from '@homing/resilience';
import type { Logger } from '../../logger.js';
import { OutboxIoError } from '../errors.js';
import { MemoryOutbox } from '../memory.js';
import type { DeadLetter, OutboxBatch, OutboxLimits, OutboxRecord, OutboxSize } from '../outbox.js';
import type { DropListeners } from '../records.js';
import { utf8Length } from '../records.js';
import type { Pending } from './WriteBuffer.js';

/** The waits before the held events are tried in storage again, when nothing else frees room. */
const RETRY_BACKOFF = exponentialBackoff({ initialMs: 1_000, factor: 2, maxMs: 60_000, jitter: 'none' });

export interface HeldInMemoryOptions {
  readonly limits: OutboxLimits;
  readonly now: () => number;
  readonly logger: Logger;
  /** The outbox's drops: the memory tier's are counted there (its dead letters excepted, see `deadLetter`). */
  readonly drops: DropListeners;
  /** Tries the held events in storage again (they are handed back through `takeWaiting`). */
  readonly retry: () => void;
  /** The storage named in the log lines; default 'IndexedDB' (the localStorage outbox uses this tier too). */
  readonly storageName?: string;
}

/**
 * The browser outboxes' memory tier (IndexedDB's and localStorage's, where the file lives for
 * history): events the origin's storage had no room for. The quota is not the outbox's bound,
 * so no stored record is removed to make room for them (under either policy). A page that is
 * online delivers them from here instead of dropping them, so they are claimed, acked, released
 * and dead-lettered like stored ones (a `MemoryOutbox` under the outbox's own limits: past
 * those, its overflow policy drops, counted `overflow`; under drop-oldest the oldest held, not
 * the stored ones, older still: see the outbox README). They are written to storage when it has
 * room again: tried after an ack freed some, with backoff otherwise (1 s doubling to a minute),
 * and once more at close; until then `persist()` rejects, and events appended meanwhile join
 * them behind, in order. What the page never delivers nor stores is gone with it (counted
 * `unsaved` at close; the unload send takes them first, and IndexedDB's unload spill saves them,
 * where localStorage tries them in storage once more on hide).
 */
export class HeldInMemory {
  private readonly memory: MemoryOutbox;
  /** Batches claimed from here and not settled. */
  private readonly batches = new Set<OutboxBatch>();
  private delays = RETRY_BACKOFF.start();
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The storage's refusal the events are held for (the cause `persist()` rejects with). */
  private refusal: unknown;
  /** Said once until the storage takes them again, never per event. */
  private warned = false;
  private closed = false;

  constructor(private readonly o: HeldInMemoryOptions) {
    this.memory = new MemoryOutbox({ ...o.limits, now: o.now, logger: o.logger });
    this.memory.onDrop((drop) => {
      if (drop.reason !== 'dead-lettered') o.drops.emit(drop.reason, drop.count, drop.bytes);
    });
  }

  private get storageName(): string {
    return this.o.storageName ?? 'IndexedDB';
  }

  /** Events held, in flight included. */
  get length(): number {
    return this.memory.length;
  }

  /** Keeps a group the storage refused for its quota (`refusal`), behind what is held already. */
  hold(group: readonly Pending[], refusal: unknown): void {
    if (group.length === 0) return;
    if (this.closed) {
      // Refused by a write after close: nothing delivers them any more.
      let bytes = 0;
      for (const p of group) bytes += p.bytes;
      this.o.drops.emit('unsaved', group.length, bytes);
      return;
    }
    if (refusal !== undefined) this.refusal = refusal;
    this.memory.append(group.map((p) => p.record));
    if (!this.warned) {
      this.warned = true;
      this.o.logger.warn(
        "the origin's storage is full (of the page's own data): events are held in memory only, " +
          `and still delivered, until ${this.storageName} has room; those not delivered before the page closes are lost`,
        { events: this.memory.length },
      );
    }
    this.scheduleRetry();
  }

  /** Takes the held events nobody claimed, oldest first, to write them (`hold` them again if that fails). */
  takeWaiting(): Pending[] {
    const taken = this.memory.claimInMemory(Infinity, Infinity);
    if (taken === null) return [];
    void this.memory.ack(taken);
    return taken.records.map((record) => ({ record, bytes: utf8Length(record.json) }));
  }

  /** Whether events wait here that no batch holds. */
  get waiting(): boolean {
    return this.memory.unclaimed > 0;
  }

  /** A write of everything that waited here committed: the storage has room again. */
  stored(): void {
    if (this.waiting) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.delays = RETRY_BACKOFF.start();
    if (this.warned)
      this.o.logger.debug(`${this.storageName} has room again: the events held in memory are stored`);
    this.warned = false;
  }

  /** Why `persist()` cannot resolve: events are held here. Null when none are. */
  persistError(): OutboxIoError | null {
    if (this.memory.length === 0) return null;
    return new OutboxIoError(
      `persist (${this.memory.length} events are held in memory only: the origin's storage is full)`,
      { cause: this.refusal },
    );
  }

  claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    return this.memory.claim(maxEvents, maxBytes).then((batch) => this.track(batch));
  }

  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    return this.track(this.memory.claimInMemory(maxEvents, maxBytes));
  }

  owns(batch: OutboxBatch): boolean {
    return this.batches.has(batch);
  }

  ack(batch: OutboxBatch): Promise<void> {
    this.batches.delete(batch);
    return this.memory.ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    this.batches.delete(batch);
    await this.memory.release(batch);
    // Waiting again: tried in storage like the rest (the timer may have stopped once the others were stored).
    if (this.waiting) this.scheduleRetry();
  }

  /** Batches of `claim` from here not settled (not the unload send's). */
  inFlight(): OutboxRecord[] {
    return this.memory.inFlight();
  }

  /** Every event held, oldest first: what the unload spill saves. */
  records(): OutboxRecord[] {
    return this.memory.records();
  }

  /** Those of `records` that batches claimed from here hold (the same objects, or uuids). */
  claimedOf(records: readonly OutboxRecord[]): OutboxRecord[] {
    if (this.batches.size === 0 || !Array.isArray(records)) return [];
    const objects = new Set<OutboxRecord>();
    const uuids = new Set<string>();
    for (const batch of this.batches) {
      for (const r of batch.records) {
        objects.add(r);
        uuids.add(r.uuid);
      }
    }
    return records.filter(
      (r) => r !== null && typeof r === 'object' && (objects.has(r) || uuids.has((r as OutboxRecord).uuid)),
    );
  }

  /**
   * Dead-letters records claimed from here: `store` keeps them in the outbox's dead-letter store.
   * Should that fail (the storage is full), they are queued here again (sent again, as stored
   * records whose move failed are) and the error is thrown. Answers how many were dead-lettered:
   * as many as `store` answers it added (the store skips dead letters it holds already), else all.
   */
  async deadLetter(
    records: readonly OutboxRecord[],
    reason: string,
    store: (letters: readonly DeadLetter[]) => Promise<number | void>,
  ): Promise<number> {
    const moved = await this.memory.deadLetter(records, reason);
    // This call's alone: another one may be storing its own meanwhile (concurrent workers).
    const mine = new Set(records.map((r) => r.uuid));
    const letters = (await this.memory.listDeadLetters()).filter((l) => mine.has(l.record.uuid));
    const uuids = letters.map((l) => l.record.uuid);
    let added: number | void;
    try {
      added = await store(letters);
    } catch (error) {
      const queued = await this.memory.replayDeadLetters(uuids);
      if (queued < uuids.length) {
        // No room left to queue them again (drop-newest, the tier refilled meanwhile): dropped.
        const gone = await this.memory.purgeDeadLetters(uuids);
        this.o.drops.emit('overflow', gone);
      }
      if (this.waiting) this.scheduleRetry();
      throw error;
    }
    await this.memory.purgeDeadLetters(uuids);
    const count = typeof added === 'number' ? added : moved;
    this.o.drops.emit('dead-lettered', count);
    return count;
  }

  size(): Promise<OutboxSize> {
    return this.memory.size();
  }

  /** The outbox's size: `stored` (what its storage holds) with the events held here added. */
  async sizeWith(stored: OutboxSize): Promise<OutboxSize> {
    if (this.length === 0) return stored;
    const held = await this.memory.size();
    const oldest = [stored.oldestTimestampMs, held.oldestTimestampMs].filter((t): t is number => t !== null);
    return {
      ...stored,
      events: stored.events + held.events,
      bytes: stored.bytes + held.bytes,
      oldestTimestampMs: oldest.length === 0 ? null : Math.min(...oldest),
    };
  }

  /** Drops what is held (consent withdrawn); batches in flight are dropped when released. */
  clear(): Promise<number> {
    return this.memory.clear();
  }

  /** What is still held is gone with the page: counted `unsaved`. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.batches.clear();
    await this.memory.close();
  }

  private scheduleRetry(): void {
    if (this.timer !== undefined || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.waiting) this.o.retry();
    }, this.delays.next());
    (this.timer as { unref?: () => void }).unref?.();
  }

  private track(batch: OutboxBatch | null): OutboxBatch | null {
    if (batch !== null) this.batches.add(batch);
    return batch;
  }
}
