import type { OutboxBatch, OutboxLimits, OutboxRecord } from '../outbox.js';
import type { DropListeners } from '../records.js';
import type { GroupReport } from './groupWrite.js';
import { ResidentRecords } from './ResidentRecords.js';
import type { Pending, WriteBuffer } from './WriteBuffer.js';
import { isExpired } from './WriteBuffer.js';

/** A stored record a batch holds, by its key: what a delete needs. */
export interface StoredClaim {
  readonly seq: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
}

export interface UnloadBatchesDeps {
  readonly buffer: WriteBuffer;
  /** Keys held by any batch of this outbox: `claim` and eviction skip them. */
  readonly claimedSeqs: Set<number>;
  readonly limits: OutboxLimits;
  /** The time retention ages records as of (`retentionClock`). */
  readonly now: () => number;
  readonly drops: DropListeners;
  /** The outbox's `clear()` generation now. */
  readonly epoch: () => number;
  /** Deletes these stored records in one transaction (throws when it could not). */
  readonly remove: (operation: string, entries: readonly StoredClaim[]) => Promise<void>;
}

/**
 * The IndexedDB outbox's `claimInMemory`: batches claimed synchronously from this page's
 * records kept in memory (`ResidentRecords`), then acked, released or dead-lettered like the
 * batches of `claim`. Their records may not have a key yet: one still in the write buffer is
 * taken out of it (it never needs storing), one in a write under way gets its key when that
 * write commits, which is awaited.
 */
export class UnloadBatches {
  private readonly residents = new ResidentRecords();
  /** Records the storage refused while an unload batch held them (see `heldBack`). */
  private readonly parked = new Set<Pending>();

  /** What a committed write tells: a record an unload batch holds keeps its key from `claim`. */
  readonly report: GroupReport = {
    stored: (p, seq) => {
      if (this.residents.stored(p, seq)) this.deps.claimedSeqs.add(seq);
    },
    skipped: (p) => this.residents.remove(p),
  };

  constructor(private readonly deps: UnloadBatchesDeps) {}

  /** Records just appended (and buffered). */
  add(records: readonly Pending[]): void {
    this.residents.add(records);
  }

  /**
   * A group the storage refused for its quota, bound for the memory tier (`HeldInMemory`):
   * answers the records that go there, which leave this page's residents (the tier serves the
   * unload send for them). Those an unload batch holds stay with it instead (in both, they were
   * sent twice): acked, they are gone; released, they are written again (`release`).
   */
  heldBack(group: readonly Pending[]): Pending[] {
    const free: Pending[] = [];
    for (const p of group) {
      if (this.residents.isClaimed(p)) this.parked.add(p);
      else {
        this.residents.remove(p);
        free.push(p);
      }
    }
    return free;
  }

  claim(maxEvents: number, maxBytes: number): OutboxBatch | null {
    const { claimedSeqs, limits } = this.deps;
    const nowMs = this.deps.now();
    const batch = this.residents.claimBatch(
      maxEvents,
      maxBytes,
      this.deps.epoch(),
      (p, seq) =>
        isExpired(limits, p.record.timestampMs, nowMs) || (seq !== undefined && claimedSeqs.has(seq)),
    );
    for (const p of batch === null ? [] : this.residents.batchRecords(batch)) {
      const seq = this.residents.seqOf(p);
      if (seq !== undefined) claimedSeqs.add(seq);
    }
    return batch;
  }

  /** Acks an unload batch; false for a batch of `claim`. */
  async ack(batch: OutboxBatch): Promise<boolean> {
    const held = this.residents.settle(batch);
    if (held === undefined) return false;
    await this.removeStored('ack', held.records);
    return true;
  }

  /** Releases an unload batch; false for a batch of `claim`. */
  async release(batch: OutboxBatch): Promise<boolean> {
    const held = this.residents.settle(batch);
    if (held === undefined) return false;
    if (held.epoch !== this.deps.epoch()) {
      // Claimed before consent was withdrawn and not sent: it must not be kept.
      await this.removeStored('release', held.records);
      this.deps.drops.emit('consent', held.records.length);
      return true;
    }
    const parked: Pending[] = [];
    for (const p of held.records) {
      const seq = this.residents.seqOf(p);
      if (seq !== undefined) this.deps.claimedSeqs.delete(seq);
      this.residents.unclaim(p);
      if (this.parked.delete(p)) parked.push(p);
    }
    // Neither stored nor in the write buffer any more: they would be sent by no one.
    if (parked.length > 0) this.deps.buffer.putBack(parked);
    return true;
  }

  /** The records the unload batches still hold. */
  held(): Pending[] {
    return [...this.residents.heldBatches()]
      .flatMap(([, b]) => b.records)
      .filter((p) => this.residents.holds(p));
  }

  /**
   * The records the unload batches still hold that a `clear()` took (claimed before it): gone
   * from the store already, counted until their batch settles, never dead letters.
   */
  takenByClear(): Pending[] {
    const epoch = this.deps.epoch();
    return [...this.residents.heldBatches()]
      .filter(([, b]) => b.epoch !== epoch)
      .flatMap(([, b]) => b.records)
      .filter((p) => this.residents.holds(p));
  }

  /** Takes these records out of their unload batches; answers those stored, to delete with their move. */
  async takeForDeadLetter(records: readonly Pending[]): Promise<StoredClaim[]> {
    const stored = await this.storedOf(records);
    for (const e of stored) this.deps.claimedSeqs.delete(e.seq);
    for (const p of records) this.forget(p);
    return stored;
  }

  /** Records another tab sent or dead-lettered: not to be sent again from here on unload. */
  forgetUuids(uuids: ReadonlySet<string>): void {
    this.residents.removeUuids(uuids);
  }

  /** Records of `claim`'s batches gone for good (acked, dead-lettered). */
  forgetSeqs(seqs: Iterable<number>): void {
    this.residents.removeSeqs(seqs);
  }

  /** The outbox was cleared: what no unload batch holds is gone. */
  cleared(): void {
    this.residents.clearUnclaimed();
  }

  clear(): void {
    this.residents.clear();
    this.parked.clear();
  }

  private forget(p: Pending): void {
    this.residents.remove(p);
    this.parked.delete(p);
  }

  private async storedOf(records: readonly Pending[]): Promise<StoredClaim[]> {
    const unstored = this.deps.buffer.discard(new Set(records));
    if (records.some((p) => !unstored.has(p) && this.residents.seqOf(p) === undefined)) {
      await this.deps.buffer.flush().catch(() => undefined);
    }
    const out: StoredClaim[] = [];
    for (const p of records) {
      const seq = this.residents.seqOf(p);
      if (seq !== undefined) out.push({ seq, record: p.record, bytes: p.bytes });
    }
    return out;
  }

  private async removeStored(operation: string, records: readonly Pending[]): Promise<void> {
    const stored = await this.storedOf(records);
    try {
      await this.deps.remove(operation, stored);
    } finally {
      // Failed: the records stay stored and, unclaimed, are sent again (the uuid dedups them).
      for (const e of stored) this.deps.claimedSeqs.delete(e.seq);
      for (const p of records) this.forget(p);
    }
  }
}
