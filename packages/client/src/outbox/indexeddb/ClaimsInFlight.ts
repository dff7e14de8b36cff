import type { OutboxBatch, OutboxRecord } from '../outbox.js';
import { takeMatching } from '../takeMatching.js';
import type { StoredClaim } from './UnloadBatches.js';

/** A stored record a batch of `claim` holds. */
export interface Claimed {
  readonly seq: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  /** The `clear()` generation it was claimed in; a release after a clear drops it. */
  readonly epoch: number;
  /** The database it was claimed from (see `ClaimsInFlight.dbGeneration`). */
  readonly generation: number;
}

/**
 * The batches of the IndexedDB outbox's `claim` not settled yet. Claims live in this tab's
 * memory only: if it closes or crashes, its claimed records are simply pending again for the
 * next holder of the delivery lock. Each claim carries the `clear()` it came after (`epoch`) and
 * the database it was read from (`generation`).
 */
export class ClaimsInFlight {
  /** Keys held by any batch of this outbox (the unload batches' too): claims and eviction skip them. */
  readonly seqs = new Set<number>();
  private readonly batches = new Map<OutboxBatch, Claimed[]>();
  private clearEpoch = 0;
  /**
   * Bumped when the database is opened again after another tab deleted it: record numbers start
   * over in the new one, so a batch claimed from the old one must not ack, release or
   * dead-letter by number there (its ack deleted new records that had the same numbers).
   */
  private dbGeneration = 0;

  /** The `clear()` generation now. */
  get epoch(): number {
    return this.clearEpoch;
  }

  /** How many batches are in flight. */
  get size(): number {
    return this.batches.size;
  }

  /** Holds these records as one batch, claimed now from the database open now. */
  hold(taken: readonly StoredClaim[], bytes: number): OutboxBatch {
    const claimed: Claimed[] = taken.map((t) => ({
      ...t,
      epoch: this.clearEpoch,
      generation: this.dbGeneration,
    }));
    const batch: OutboxBatch = { records: claimed.map((c) => c.record), bytes };
    this.batches.set(batch, claimed);
    for (const c of claimed) this.seqs.add(c.seq);
    return batch;
  }

  /** Every record of the batches in flight. */
  records(): OutboxRecord[] {
    return [...this.batches.values()].flat().map((e) => e.record);
  }

  /** Every entry of the batches in flight. */
  all(): Claimed[] {
    return [...this.batches.values()].flat();
  }

  /** Takes the matching records out of their batches (they stay claimed until `unclaim`). */
  takeMatching(match: (record: OutboxRecord) => boolean): Claimed[] {
    return takeMatching(this.batches, match);
  }

  /** Takes the batch out of the claims in flight; its records stay claimed until `unclaim`. */
  settle(batch: OutboxBatch): Claimed[] | undefined {
    const entries = this.batches.get(batch);
    if (entries === undefined) return undefined;
    this.batches.delete(batch);
    return entries;
  }

  unclaim(entries: readonly Claimed[]): void {
    for (const e of entries) if (e.generation === this.dbGeneration) this.seqs.delete(e.seq);
  }

  /** The entries claimed from the database open now (not from one another tab deleted). */
  current(entries: readonly Claimed[]): Claimed[] {
    return entries.filter((e) => e.generation === this.dbGeneration);
  }

  /** The entries in flight, from the database open now, that a `clear()` took since they were claimed. */
  takenByClear(): Claimed[] {
    const out: Claimed[] = [];
    for (const entries of this.batches.values()) {
      for (const e of this.current(entries)) if (e.epoch !== this.clearEpoch) out.push(e);
    }
    return out;
  }

  /** The outbox was cleared: what is in flight now predates it. */
  cleared(): void {
    this.clearEpoch++;
  }

  /** A new database: what was claimed named records of the old one. */
  reopened(): void {
    this.dbGeneration++;
    this.seqs.clear();
  }

  /** Closed: the claims are dropped, which makes the records claimable again. */
  clear(): void {
    this.batches.clear();
    this.seqs.clear();
  }
}
