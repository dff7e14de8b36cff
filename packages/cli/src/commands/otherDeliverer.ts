import type { OutboxInspector } from './outboxCommand.js';

/** Who holds the outbox's delivery lock, as the inspector reads it. */
type DeliveryLockInfo = Awaited<ReturnType<OutboxInspector['deliveryLock']>>;

/** How often a flush waiting for another process looks at the lock and the queue again, ms. */
export const HOLDER_POLL_MS = 200;

/** Another live process holding the outbox's delivery lock, as a flush names it. */
export interface OtherDeliverer {
  /** `pid N`, or `another process` for a lock that names none. */
  readonly who: string;
  readonly heartbeatAgeMs: number;
}

export type HolderWait =
  /**
   * Nobody else holds the lock (free, stale, or this process's own): this flush may claim.
   * `waitedFor`: the last holder it waited for (let go, or found stale), if any.
   */
  | { readonly kind: 'free'; readonly waitedFor: OtherDeliverer | null }
  /** The queue went empty while the other process held the lock: it sent everything. */
  | { readonly kind: 'emptied'; readonly holder: OtherDeliverer }
  /** Still held by a live process at the deadline, with `events` still queued. */
  | { readonly kind: 'held'; readonly holder: OtherDeliverer; readonly events: number }
  /** `stop` was aborted. */
  | { readonly kind: 'stopped' };

/** The live process holding the lock, or null when the lock is free, stale, or this process's own. */
export function otherDeliverer(lock: DeliveryLockInfo): OtherDeliverer | null {
  if (lock === null || lock.stale || lock.pid === process.pid) return null;
  return {
    who: lock.pid === null ? 'another process' : `pid ${lock.pid}`,
    heartbeatAgeMs: lock.heartbeatAgeMs,
  };
}

/**
 * Waits while another live process holds the delivery lock: only the holder claims, so a flush
 * beside it sends nothing. A CLI app takes the lock for its exit flush and lets it go a moment
 * later, and an app that has sent everything lets it go after a few idle heartbeats: then the
 * flush goes on with what is left. Ends early when the queue goes empty (the holder sent it),
 * and at `deadlineMs` (monotonic, `now`) with the holder still there. `onWaiting` is told each
 * time a new holder is waited for. A holder that stops refreshing its heartbeat is found stale
 * by the inspector (after watching it a few heartbeats) and taken over by the next claim.
 */
export async function waitWhileHeldElsewhere(
  inspector: OutboxInspector,
  {
    deadlineMs,
    now,
    stop,
    onWaiting,
  }: {
    deadlineMs: number;
    now: () => number;
    stop: AbortSignal;
    onWaiting: (holder: OtherDeliverer) => void;
  },
): Promise<HolderWait> {
  let waitedFor: OtherDeliverer | null = null;
  for (;;) {
    if (stop.aborted) return { kind: 'stopped' };
    const holder = otherDeliverer(await inspector.deliveryLock());
    if (holder === null) return { kind: 'free', waitedFor };
    const { events } = await inspector.size();
    if (events === 0) return { kind: 'emptied', holder };
    if (now() >= deadlineMs) return { kind: 'held', holder, events };
    if (holder.who !== waitedFor?.who) onWaiting(holder);
    waitedFor = holder;
    await pause(Math.min(HOLDER_POLL_MS, Math.max(0, deadlineMs - now())), stop);
  }
}

/**
 * Resolves after `ms`, or at once when `stop` is aborted. Its timer keeps the process alive, as
 * a command waiting for its answer must: unref'd, a CLI with nothing else pending exited mid-wait.
 */
function pause(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stop.addEventListener('abort', done, { once: true });
  });
}
