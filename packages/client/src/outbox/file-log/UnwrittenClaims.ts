import type { OutboxBatch, OutboxRecord } from '../outbox.js';
import type { DropListeners } from '../records.js';
import type { AppendBuffer } from './AppendBuffer.js';
import type { EncodableRecord } from './frame.js';

/**
 * Batches claimed from records the disk refused (a disk full of other programs' files, a
 * read-only one), while nothing on disk is left to claim: held, they would only be dropped as
 * the limits fill, or lost at exit, while the server could take them. Nobody else can see them,
 * so no lock is needed; an ack forgets them, a release puts them back in the buffer (written
 * once there is room, or claimed again).
 *
 * Each batch remembers the `clear()` generation it was claimed in: one released, put back or
 * dead-lettered after a clear is dropped instead, counted 'consent' (consent was withdrawn while
 * it was being sent).
 */
export class UnwrittenClaims {
  private readonly batches = new Map<OutboxBatch, { records: EncodableRecord[]; epoch: number }>();
  private epoch = 0;

  constructor(
    private readonly buffer: AppendBuffer,
    private readonly drops: DropListeners,
  ) {}

  get size(): number {
    return this.batches.size;
  }

  /** The oldest records waiting in memory, those older than `cutoff` dropped as expired. */
  claim(maxEvents: number, maxBytes: number, cutoff: number): OutboxBatch | null {
    if (!this.buffer.writesFailing) return null;
    for (;;) {
      const taken = this.buffer.takeOldest(maxEvents, maxBytes);
      if (taken.length === 0) return null;
      const records = taken.filter((r) => r.timestampMs >= cutoff);
      if (records.length < taken.length) {
        let expiredBytes = 0;
        for (const r of taken) if (r.timestampMs < cutoff) expiredBytes += r.jsonBytes;
        this.drops.emit('retention', taken.length - records.length, expiredBytes);
      }
      if (records.length === 0) continue;
      let bytes = 0;
      for (const r of records) bytes += r.jsonBytes;
      const batch: OutboxBatch = { records, bytes };
      this.batches.set(batch, { records, epoch: this.epoch });
      return batch;
    }
  }

  /** Settles `batch` if it is one of these; answers whether it was. */
  settle(batch: OutboxBatch, how: 'ack' | 'release'): boolean {
    const claimed = this.batches.get(batch);
    if (claimed === undefined) return false;
    this.batches.delete(batch);
    if (how === 'ack') return true;
    if (claimed.epoch === this.epoch) this.buffer.putBack(claimed.records);
    else this.dropCleared(claimed.records);
    return true;
  }

  /** A `clear()`: batches being sent are sent if acked, dropped if released. */
  cleared(): void {
    this.epoch++;
  }

  /**
   * Puts the records of every batch back in the buffer, in claim order (the process ends, or the
   * outbox closes, before they were acked); those a `clear()` took away are dropped.
   */
  putBackAll(): void {
    const records: EncodableRecord[] = [];
    for (const claimed of this.batches.values()) {
      if (claimed.epoch === this.epoch) records.push(...claimed.records);
      else this.dropCleared(claimed.records);
    }
    this.batches.clear();
    this.buffer.putBack(records);
  }

  /**
   * Of `records` (to be dead-lettered), those claimed from memory, split into those still to be
   * kept and those a `clear()` took while they were in flight (`cleared`, dropped here: a dead
   * letter can be replayed, which would send them after consent was withdrawn), and the rest,
   * which are on disk.
   */
  sortForDeadLetter(records: readonly OutboxRecord[]): {
    kept: EncodableRecord[];
    onDisk: readonly OutboxRecord[];
  } {
    if (this.batches.size === 0) return { kept: [], onDisk: records };
    const fromMemory = new Set<OutboxRecord>();
    const cleared = new Set<OutboxRecord>();
    for (const { records: batch, epoch } of this.batches.values()) {
      for (const r of batch) {
        fromMemory.add(r);
        if (epoch !== this.epoch) cleared.add(r);
      }
    }
    const unwritten = records.filter((r) => fromMemory.has(r)) as EncodableRecord[];
    const dropped = unwritten.filter((r) => cleared.has(r));
    if (dropped.length > 0) {
      this.takeOut(new Set(dropped));
      this.dropCleared(dropped);
    }
    return {
      kept: unwritten.filter((r) => !cleared.has(r)),
      onDisk: records.filter((r) => !fromMemory.has(r)),
    };
  }

  /** Records now stored elsewhere (the dead-letter store): their batches' acks forget the rest. */
  takeOut(gone: ReadonlySet<OutboxRecord>): void {
    for (const claimed of this.batches.values()) {
      claimed.records = claimed.records.filter((r) => !gone.has(r));
    }
  }

  /** Events and bytes of the batches not settled, and their oldest timestamp. */
  counts(): { events: number; bytes: number; oldest: number | null } {
    let events = 0;
    let bytes = 0;
    let oldest: number | null = null;
    for (const { records } of this.batches.values()) {
      for (const r of records) {
        events++;
        bytes += r.jsonBytes;
        if (oldest === null || r.timestampMs < oldest) oldest = r.timestampMs;
      }
    }
    return { events, bytes, oldest };
  }

  private dropCleared(records: readonly EncodableRecord[]): void {
    let bytes = 0;
    for (const r of records) bytes += r.jsonBytes;
    this.drops.emit('consent', records.length, bytes);
  }
}
