import type { OutboxBatch, OutboxRecord } from '../outbox.js';
import { takeMatching } from '../takeMatching.js';

/** A record a batch holds: its place in its chunk, and the `clear()` generation it was claimed in. */
export interface Held {
  readonly key: string;
  readonly index: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  readonly epoch: number;
}

/**
 * The batches of the localStorage outbox not settled yet (`claim`'s and `claimInMemory`'s), in
 * this tab's memory only: a closed tab's claims are simply claimable by the next holder. A
 * record is held by its (chunk, index), which never changes while it is claimed.
 */
export class HeldClaims {
  private readonly batches = new Map<OutboxBatch, Held[]>();
  /** The batches of `claimInMemory`: the unload send's own, not in flight elsewhere. */
  private readonly unloadBatches = new WeakSet<OutboxBatch>();
  private readonly ids = new Set<string>();
  private clearEpoch = 0;

  readonly isClaimed = (key: string, index: number): boolean => this.ids.has(`${key}#${index}`);

  /** The `clear()` generation now. */
  get epoch(): number {
    return this.clearEpoch;
  }

  /** How many batches are in flight. */
  get size(): number {
    return this.batches.size;
  }

  /** Claims the record at this place (before its batch is made, so a scan skips it). */
  mark(key: string, index: number): void {
    this.ids.add(`${key}#${index}`);
  }

  /** Holds these (marked) records as one batch. */
  hold(taken: Held[], bytes: number): OutboxBatch {
    const batch: OutboxBatch = { records: taken.map((h) => h.record), bytes };
    this.batches.set(batch, taken);
    return batch;
  }

  /** Marks a batch as the unload send's own. */
  holdForUnload(batch: OutboxBatch): void {
    this.unloadBatches.add(batch);
  }

  /** The records of `claim`'s batches in flight (not the unload send's). */
  inFlight(): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (const [batch, held] of this.batches) {
      if (!this.unloadBatches.has(batch)) for (const h of held) out.push(h.record);
    }
    return out;
  }

  /** Every record held. */
  all(): Held[] {
    return [...this.batches.values()].flat();
  }

  /** Takes the matching records out of their batches and unclaims them. */
  takeMatching(match: (record: OutboxRecord) => boolean): Held[] {
    const moved = takeMatching(this.batches, match);
    for (const h of moved) this.ids.delete(`${h.key}#${h.index}`);
    return moved;
  }

  /** Takes the batch out of the claims in flight and unclaims its records. */
  settle(batch: OutboxBatch): Held[] | undefined {
    const held = this.batches.get(batch);
    if (held === undefined) return undefined;
    this.batches.delete(batch);
    for (const h of held) this.ids.delete(`${h.key}#${h.index}`);
    return held;
  }

  /** The records of batches in flight that a `clear()` took (marked gone in their chunks then). */
  takenByClear(): Held[] {
    return this.all().filter((h) => h.epoch !== this.clearEpoch);
  }

  /** The outbox was cleared: what is in flight now predates it. */
  cleared(): void {
    this.clearEpoch++;
  }

  /** Closed: the claims are dropped. */
  clear(): void {
    this.batches.clear();
    this.ids.clear();
  }
}
