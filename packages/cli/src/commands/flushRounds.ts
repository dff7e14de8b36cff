import type { Delivery } from '@homing/client';
import type { ClaimWatch } from './claimWatch.js';
import type { OutboxInspector } from './outboxCommand.js';
import type { OtherDeliverer } from './otherDeliverer.js';
import { HOLDER_POLL_MS, otherDeliverer, waitWhileHeldElsewhere } from './otherDeliverer.js';

/**
 * Rounds in a row that sent nothing, met no error and found the lock free before a flush stops
 * looking: nothing it can see explains them, and trying on would only spin until its timeout.
 */
const IDLE_ROUNDS = 3;

export type RoundsEnd =
  /**
   * Delivery did what it could: `pending` left, of which `arrived` came in after its last look
   * (appended by other processes meanwhile), not events it failed to send.
   */
  | {
      readonly kind: 'drained';
      readonly sent: number;
      readonly pending: number;
      readonly timedOut: boolean;
      readonly arrived: number;
    }
  /** Another process held the lock and sent the queue empty meanwhile. */
  | { readonly kind: 'delivered-elsewhere'; readonly sent: number; readonly holder: OtherDeliverer }
  /**
   * Another process still held the lock at the deadline; `stopped`: it had stopped refreshing
   * the lock (frozen, blocked) and was found so only as the time ran out.
   */
  | {
      readonly kind: 'held-elsewhere';
      readonly sent: number;
      readonly holder: OtherDeliverer;
      readonly events: number;
      readonly stopped?: boolean;
    }
  /** Nothing sent, nothing failed, nobody else delivering, and still events queued. */
  | { readonly kind: 'unexplained'; readonly sent: number; readonly pending: number }
  | { readonly kind: 'stopped' };

export interface FlushRounds {
  readonly delivery: Delivery;
  readonly claims: ClaimWatch;
  readonly inspector: OutboxInspector;
  /** Monotonic ms; `deadlineMs` is on it. */
  readonly now: () => number;
  readonly deadlineMs: number;
  /** Aborted when the flush ends otherwise (interrupted, a refused request, consent withdrawn). */
  readonly stop: AbortSignal;
  /** A failure the summary names: an error met, or every endpoint's circuit open. */
  readonly failedVisibly: () => boolean;
  readonly onWaiting: (holder: OtherDeliverer, upToMs: number) => void;
}

/**
 * Sends what is queued until it is sent or cannot be, as one flush: while another process holds
 * the delivery lock (only it may claim), waits for it to let go, within the deadline; then sends
 * what is left. Events others append while it runs are sent too when the delivery sees them in
 * time; those that come in after its last look are counted apart (`arrived`), not as a failure.
 */
export async function runFlushRounds(r: FlushRounds): Promise<RoundsEnd> {
  let sent = 0;
  let idle = 0;
  for (;;) {
    const wait = await waitWhileHeldElsewhere(r.inspector, {
      deadlineMs: r.deadlineMs,
      now: r.now,
      stop: r.stop,
      onWaiting: (holder) => r.onWaiting(holder, r.deadlineMs - r.now()),
    });
    if (wait.kind === 'stopped') return wait;
    if (wait.kind === 'emptied') return { kind: 'delivered-elsewhere', sent, holder: wait.holder };
    if (wait.kind === 'held')
      return { kind: 'held-elsewhere', sent, holder: wait.holder, events: wait.events };
    if (wait.waitedFor !== null && r.now() >= r.deadlineMs) {
      // A holder that stopped refreshing its lock is found stale only once the lock is staleMs
      // old (and watched a few heartbeats more), which the default timeout does not outlast:
      // "timed out" alone did not say that the time went waiting for a frozen process.
      const { events } = await r.inspector.size();
      return { kind: 'held-elsewhere', sent, holder: wait.waitedFor, events, stopped: true };
    }
    const round = await r.delivery.flush(Math.max(0, Math.floor(r.deadlineMs - r.now())));
    if (r.stop.aborted) return { kind: 'stopped' };
    sent += round.sent;
    const drained = { kind: 'drained', sent, pending: round.pending, timedOut: round.timedOut } as const;
    if (round.pending <= 0 || round.timedOut) return { ...drained, arrived: 0 };
    const holder = await r.inspector.deliveryLock();
    const own = holder !== null && !holder.stale && holder.pid === process.pid;
    // Holding the lock, the delivery's last claim found nothing and nothing went back since:
    // what is queued now was appended after that look.
    if (own && r.claims.caughtUp) return { ...drained, arrived: round.pending };
    if (r.failedVisibly()) return { ...drained, arrived: 0 };
    const other = otherDeliverer(holder);
    if (r.now() >= r.deadlineMs) {
      return other === null
        ? { ...drained, timedOut: true, arrived: 0 }
        : { kind: 'held-elsewhere', sent, holder: other, events: round.pending };
    }
    // Taken by another process (an app that started or exited meanwhile): wait for it again.
    if (other !== null) continue;
    idle = round.sent > 0 ? 0 : idle + 1;
    if (idle >= IDLE_ROUNDS) return { kind: 'unexplained', sent, pending: round.pending };
    await new Promise((resolve) => setTimeout(resolve, HOLDER_POLL_MS));
  }
}
