import type { Outbox } from './outboxCommand.js';

/** What a flush's delivery last met in the outbox, and the outbox it must use for that to be seen. */
export interface ClaimWatch {
  /** The outbox to hand to the delivery: the same one, its claims and releases watched. */
  readonly outbox: Outbox;
  /**
   * The last claim came back empty and no batch was put back since: whatever was there when the
   * delivery last looked was sent or dead-lettered, so what is queued now came in after that
   * look. Only meaningful while this process holds the delivery lock: a process that does not
   * gets empty claims too, whatever is queued.
   */
  readonly caughtUp: boolean;
}

/**
 * Watches the claims and releases a delivery makes on `outbox`. A queue that others append to
 * while a flush runs is never empty when it is measured at the end; this tells the events that
 * came in after the flush's last look from the ones it could not send.
 */
export function watchClaims(outbox: Outbox): ClaimWatch {
  let caughtUp = false;
  // Releases begun and ended: a claim running beside a release may have looked before the
  // records went back, so its empty answer proves nothing.
  let releasesBegun = 0;
  let releasesEnded = 0;
  const claim: Outbox['claim'] = async (maxEvents, maxBytes) => {
    const begunBefore = releasesBegun;
    const clear = releasesBegun === releasesEnded;
    const batch = await outbox.claim(maxEvents, maxBytes);
    caughtUp = batch === null && clear && releasesBegun === begunBefore;
    return batch;
  };
  const release: Outbox['release'] = async (batch) => {
    // Put back (a failed attempt, a flush cut short): those events are not sent.
    caughtUp = false;
    releasesBegun++;
    try {
      await outbox.release(batch);
    } finally {
      releasesEnded++;
      caughtUp = false;
    }
  };
  const watched = new Proxy(outbox, {
    get(target, property) {
      if (property === 'claim') return claim;
      if (property === 'release') return release;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    outbox: watched,
    get caughtUp() {
      return caughtUp;
    },
  };
}
