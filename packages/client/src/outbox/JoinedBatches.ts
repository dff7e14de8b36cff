import type { OutboxBatch } from './outbox.js';

/**
 * Unload batches of the browser outboxes made of two parts (the records held in memory, then
 * stored or resident ones), so an ack or a release settles each part where it came from.
 */
export class JoinedBatches {
  private readonly parts = new Map<OutboxBatch, readonly OutboxBatch[]>();

  /** One batch of `first`'s records, then `second`'s. */
  join(first: OutboxBatch, second: OutboxBatch): OutboxBatch {
    const both: OutboxBatch = {
      records: [...first.records, ...second.records],
      bytes: first.bytes + second.bytes,
    };
    this.parts.set(both, [first, second]);
    return both;
  }

  /** The parts of `batch` when `join` made it (forgotten from now on); else undefined. */
  take(batch: OutboxBatch): readonly OutboxBatch[] | undefined {
    const parts = this.parts.get(batch);
    if (parts !== undefined) this.parts.delete(batch);
    return parts;
  }

  clear(): void {
    this.parts.clear();
  }
}
