import { DeferredOutbox } from './DeferredOutbox.js';
import type { Outbox } from './outbox.js';
import { RecoveringOutbox } from './RecoveringOutbox.js';

/**
 * Resolves once `outbox` (or the storage a `DeferredOutbox` loads), which fell back to memory at
 * start, stores again: its durable outbox took over (`RecoveringOutbox`). Never for an outbox
 * that stored all along, or that never can: what waits for it is then never needed.
 */
export function storesAgain(outbox: Outbox): Promise<void> {
  if (outbox instanceof RecoveringOutbox) return outbox.whenRecovered();
  if (outbox instanceof DeferredOutbox) return outbox.whenLoaded().then(storesAgain);
  return new Promise<void>(() => {});
}
