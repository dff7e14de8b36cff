import type { DeliveryStats } from '../delivery/Delivery.js';
import type { ClientDropReason } from '../events.js';
import type { Logger } from '../logger.js';
import type { OutboxSize } from '../outbox/outbox.js';
import type { TelemetryStats } from './client.js';
import { emptyDropCounts } from './client.js';
import type { ConsentState } from './options.js';
import type { Emitter } from './Emitter.js';

/** What the client counts of the events it was given, every drop by reason, and `stats()` from them. */
export class ClientCounts {
  readonly counts = { tracked: 0, fixed: 0, queued: 0, persisted: 0 };
  /** By reason. Written in place by a catch that must count without a call (see `Telemetry.enqueue`), then `tell`. */
  readonly dropped = emptyDropCounts();

  constructor(
    private readonly logger: Logger,
    private readonly emitter: Emitter,
  ) {}

  /**
   * Counts `count` events dropped (none: nothing), logs them and emits `drop`. Throws only before
   * it counted (no stack left to call it): its callers' catch then counts the event.
   */
  drop(reason: ClientDropReason, count: number, detail?: string): void {
    if (count <= 0) return;
    this.dropped[reason] += count;
    this.tell(reason, count, detail);
  }

  /**
   * Logs and emits a drop already counted. Never throws: the logger and the listeners are guarded,
   * and the stack running out (an app recursing deep) must not make a counted drop count again.
   */
  tell(reason: ClientDropReason, count: number, detail?: string): void {
    try {
      this.logger.debug('events dropped', { reason, count, detail });
      this.emitter.emit('drop', detail === undefined ? { reason, count } : { reason, count, detail });
    } catch {}
  }

  /** `stats()`: these counts with delivery's, the storage's queue, the last error, the consent. */
  stats(
    d: DeliveryStats,
    queue: OutboxSize | null,
    storageError: TelemetryStats['lastError'],
    consent: ConsentState,
  ): TelemetryStats {
    return {
      ...this.counts,
      sent: d.sent,
      failedAttempts: d.failedAttempts,
      retried: d.retried,
      dropped: { ...this.dropped },
      queue,
      breakers: d.breakers,
      // Delivery's when there is one, else the storage's (the more recent first).
      lastError:
        d.lastError === null || (storageError !== null && storageError.atMs > d.lastError.atMs)
          ? (storageError ?? d.lastError)
          : d.lastError,
      consent,
      enabled: true,
    };
  }
}
