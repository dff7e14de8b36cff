import { settledWithin } from '../settledWithin.js';
import type { Outbox, OutboxSize } from './outbox.js';

/** What the answer still gets when the budget is spent: a storage that works answers in a few ms. */
export const SIZE_GRACE_MS = 250;

/**
 * The outbox's size if it answers within `ms` (at least `SIZE_GRACE_MS`), else null, as when it
 * fails: a flush, a shutdown or `stats()` must not outlast its budget on a storage that never
 * answers (an IndexedDB whose open never settles held them for ever). The size asked for goes
 * on alone.
 */
export async function sizeWithin(outbox: Pick<Outbox, 'size'>, ms: number): Promise<OutboxSize | null> {
  let size: Promise<OutboxSize | null>;
  try {
    size = outbox.size().catch(() => null);
  } catch {
    return null;
  }
  return (await settledWithin(size, Math.max(ms, SIZE_GRACE_MS))) ? size : null;
}
