import type { Outbox } from './outbox.js';

/**
 * Subscribes, through `subscribe`, to the outbox `there` resolves with, once it does (an outbox
 * still loading, or one standing in for another until it takes over); answers the unsubscribe,
 * which works before and after. Never, if `there` never resolves or rejects.
 */
export function subscribeOnceThere(
  there: Promise<Outbox>,
  subscribe: (outbox: Outbox) => (() => void) | undefined,
): () => void {
  let off: (() => void) | undefined;
  let stopped = false;
  there.then(
    (outbox) => {
      if (!stopped) off = subscribe(outbox);
    },
    () => {},
  );
  return () => {
    stopped = true;
    off?.();
  };
}
