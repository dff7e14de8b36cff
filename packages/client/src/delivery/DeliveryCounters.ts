import type { EndpointChannel, EndpointSnapshot } from './EndpointChannel.js';

export interface DeliveryStats {
  /** Events acknowledged by an endpoint. */
  sent: number;
  /** Requests that failed (any reason). */
  failedAttempts: number;
  /** Batches given back to the outbox to be tried again later. */
  retried: number;
  /** Events moved to the dead-letter store. */
  deadLettered: number;
  /** Batches being sent now. */
  inFlight: number;
  paused: boolean;
  online: boolean;
  breakers: Record<string, EndpointSnapshot>;
  /** The last failed attempt; `endpoint` is `'outbox'` when a claim from the outbox failed. */
  lastError: { endpoint: string; reason: string; atMs: number } | null;
}

/** What a delivery has done so far, kept as plain counters so counting costs nothing on the send path. */
export class DeliveryCounters {
  sent = 0;
  failedAttempts = 0;
  retried = 0;
  deadLettered = 0;
  inFlight = 0;
  lastError: DeliveryStats['lastError'] = null;

  /** A copy the caller may keep: later counting does not change it. */
  snapshot(channels: readonly EndpointChannel[], state: { paused: boolean; online: boolean }): DeliveryStats {
    const now = Date.now();
    const breakers: Record<string, EndpointSnapshot> = {};
    for (const channel of channels) breakers[channel.id] = channel.snapshot(now);
    return {
      sent: this.sent,
      failedAttempts: this.failedAttempts,
      retried: this.retried,
      deadLettered: this.deadLettered,
      inFlight: this.inFlight,
      paused: state.paused,
      online: state.online,
      breakers,
      lastError: this.lastError === null ? null : { ...this.lastError },
    };
  }
}
