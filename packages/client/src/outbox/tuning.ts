import { MAX_DELAY_MS } from '../maxDelay.js';

/**
 * The least and greatest value of each numeric outbox tuning option (integers), in one place
 * for the outboxes that use them and for `createTelemetry`, which checks every tuning option it
 * is given whichever storage it picks (a value the chosen storage does not use is still a
 * mistake in the app's configuration). Delays end at MAX_DELAY_MS: they become timers.
 */
export const OUTBOX_TUNING_RANGES = Object.freeze({
  persistIntervalMs: [0, MAX_DELAY_MS],
  flushEvents: [1, Number.MAX_SAFE_INTEGER],
  flushBytes: [1, Number.MAX_SAFE_INTEGER],
  maxSegmentBytes: [1024, Number.MAX_SAFE_INTEGER],
  heartbeatMs: [10, MAX_DELAY_MS],
  staleMs: [1, MAX_DELAY_MS],
  claimCacheBytes: [0, Number.MAX_SAFE_INTEGER],
  leaseMs: [100, MAX_DELAY_MS],
} as const satisfies Record<string, readonly [number, number]>);

export type NumericTuningKey = keyof typeof OUTBOX_TUNING_RANGES;
