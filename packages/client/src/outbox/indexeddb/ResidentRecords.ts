import type { OutboxBatch } from '../outbox.js';
import type { Pending } from './WriteBuffer.js';

interface ResidentState {
  /** Its key in the records store once a write committed it. */
  seq: number | undefined;
  /** Held by a `claimInMemory` batch. */
  claimed: boolean;
}

/** An unload batch: its records and the `clear()` generation it was claimed in. */
export interface ResidentBatch {
  readonly records: readonly Pending[];
  readonly epoch: number;
}

/** Most bytes of records kept in memory for an unload claim: a few times the 64 KiB keepalive budget. */
export const RESIDENT_MAX_BYTES = 256 * 1024;

/**
 * The records this page appended to the IndexedDB outbox that are still pending, kept in memory
 * so that `claimInMemory` can answer synchronously when the page goes away: IndexedDB cannot be
 * read then, and a write started in `pagehide` does not commit (in Chromium the records tracked
 * just before a navigation were lost that way). Unwritten records (in the write buffer or in a
 * write not committed yet) are claimed first, then the written ones, oldest first in each.
 *
 * Bounded by bytes: past the bound the oldest written records are forgotten first (they are safe
 * in storage and wait for `claim`), then the oldest unwritten. Another tab that sends or
 * dead-letters a record kept here says so (`SentElsewhere`) and it is forgotten; one it is
 * sending still may go out twice, a duplicate the server drops.
 */
export class ResidentRecords {
  private readonly unwritten = new Map<Pending, ResidentState>();
  private readonly written = new Map<Pending, ResidentState>();
  private readonly bySeq = new Map<number, Pending>();
  private readonly batches = new Map<OutboxBatch, ResidentBatch>();
  private bytes = 0;

  constructor(private readonly maxBytes = RESIDENT_MAX_BYTES) {}

  add(records: readonly Pending[]): void {
    for (const p of records) {
      this.unwritten.set(p, { seq: undefined, claimed: false });
      this.bytes += p.bytes;
    }
    this.trim();
  }

  /** `p` was committed under `seq`; answers whether an unload batch holds it (then `claim` must skip that key). */
  stored(p: Pending, seq: number): boolean {
    const state = this.unwritten.get(p) ?? this.written.get(p);
    if (state === undefined) return false;
    if (state.seq !== undefined) this.bySeq.delete(state.seq);
    state.seq = seq;
    this.unwritten.delete(p);
    this.written.set(p, state);
    this.bySeq.set(seq, p);
    return state.claimed;
  }

  /** Whether `p` is still kept here (not acked, dead-lettered or forgotten). */
  holds(p: Pending): boolean {
    return this.written.has(p) || this.unwritten.has(p);
  }

  /** Whether an unload batch holds `p`. */
  isClaimed(p: Pending): boolean {
    return (this.written.get(p) ?? this.unwritten.get(p))?.claimed === true;
  }

  seqOf(p: Pending): number | undefined {
    return (this.written.get(p) ?? this.unwritten.get(p))?.seq;
  }

  /**
   * Marks and answers the oldest unclaimed records, unwritten first, at most `maxEvents`, that
   * fit in `maxBytes` together; one larger than `maxBytes` alone is passed over, and the claim
   * stops at the first that no longer fits. `skip` passes over others (expired, claimed by key).
   */
  claim(
    maxEvents: number,
    maxBytes: number,
    skip: (p: Pending, seq: number | undefined) => boolean,
  ): Pending[] {
    const taken: Pending[] = [];
    let bytes = 0;
    for (const group of [this.unwritten, this.written]) {
      for (const [p, state] of group) {
        if (taken.length >= maxEvents) return taken;
        if (state.claimed || skip(p, state.seq)) continue;
        if (bytes + p.bytes > maxBytes) {
          if (p.bytes > maxBytes) continue;
          return taken;
        }
        state.claimed = true;
        taken.push(p);
        bytes += p.bytes;
      }
    }
    return taken;
  }

  /** `claim` as an outbox batch, kept until `settle`; null when nothing could be claimed. */
  claimBatch(
    maxEvents: number,
    maxBytes: number,
    epoch: number,
    skip: (p: Pending, seq: number | undefined) => boolean,
  ): OutboxBatch | null {
    const records = this.claim(maxEvents, maxBytes, skip);
    if (records.length === 0) return null;
    let bytes = 0;
    for (const p of records) bytes += p.bytes;
    const batch: OutboxBatch = { records: records.map((p) => p.record), bytes };
    this.batches.set(batch, { records, epoch });
    return batch;
  }

  /** The unload batch's records (still marked claimed), forgetting the batch; undefined for another batch. */
  settle(batch: OutboxBatch): ResidentBatch | undefined {
    const held = this.batches.get(batch);
    this.batches.delete(batch);
    return held;
  }

  batchRecords(batch: OutboxBatch): readonly Pending[] {
    return this.batches.get(batch)?.records ?? [];
  }

  /** Every unload batch, for dead-lettering some of their records. */
  heldBatches(): IterableIterator<[OutboxBatch, ResidentBatch]> {
    return this.batches.entries();
  }

  unclaim(p: Pending): void {
    const state = this.written.get(p) ?? this.unwritten.get(p);
    if (state !== undefined) state.claimed = false;
  }

  remove(p: Pending): void {
    const state = this.written.get(p) ?? this.unwritten.get(p);
    if (state === undefined) return;
    this.written.delete(p);
    this.unwritten.delete(p);
    if (state.seq !== undefined) this.bySeq.delete(state.seq);
    this.bytes -= p.bytes;
  }

  /** Forgets the records stored under these keys (acked, dead-lettered by `claim`'s batches). */
  removeSeqs(seqs: Iterable<number>): void {
    for (const seq of seqs) {
      const p = this.bySeq.get(seq);
      if (p !== undefined) this.remove(p);
    }
  }

  /** Forgets the records with these uuids (another tab sent or dead-lettered them). */
  removeUuids(uuids: ReadonlySet<string>): void {
    if (uuids.size === 0) return;
    for (const group of [this.written, this.unwritten]) {
      for (const p of group.keys()) if (uuids.has(p.record.uuid)) this.remove(p);
    }
  }

  /** Forgets every record no unload batch holds (consent withdrawn: the outbox was cleared). */
  clearUnclaimed(): void {
    for (const group of [this.written, this.unwritten]) {
      for (const [p, state] of group) if (!state.claimed) this.remove(p);
    }
  }

  clear(): void {
    this.batches.clear();
    this.unwritten.clear();
    this.written.clear();
    this.bySeq.clear();
    this.bytes = 0;
  }

  private trim(): void {
    for (const group of [this.written, this.unwritten]) {
      for (const [p, state] of group) {
        if (this.bytes <= this.maxBytes) return;
        if (!state.claimed) this.remove(p);
      }
    }
  }
}
