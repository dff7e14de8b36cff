import type { OutboxRecord } from './outbox.js';

/**
 * Takes the entries whose record matches out of the batches that hold them (each batch keeps
 * the rest) and answers them: what a clear or a dead letter takes from the claims in flight.
 */
export function takeMatching<B, E extends { readonly record: OutboxRecord }>(
  batches: Map<B, E[]>,
  match: (record: OutboxRecord) => boolean,
): E[] {
  const moved: E[] = [];
  for (const [batch, entries] of batches) {
    batches.set(
      batch,
      entries.filter((e) => !match(e.record)),
    );
    for (const e of entries) if (match(e.record)) moved.push(e);
  }
  return moved;
}
