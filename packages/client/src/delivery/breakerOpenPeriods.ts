import { type Backoff, exponentialBackoff } from '@homing/resilience';
import type { DeliveryOptions } from './deliveryOptions.js';

type BreakerPeriods = Pick<DeliveryOptions['breaker'], 'halfOpenAfterMs' | 'initialHalfOpenAfterMs'>;

/**
 * How long an endpoint's circuit stays open each time it opens in a row: `initialHalfOpenAfterMs`,
 * doubling with each failed probe up to `halfOpenAfterMs`. A fixed period of 30 s held delivery
 * back for 30 s after a server restart of a few seconds. Without jitter, so a later process
 * restoring a saved state (which counts its openings) replays the same periods, and a tool
 * (`homing status`) can tell when the client will next try.
 */
export function openPeriods(breaker: BreakerPeriods): Backoff {
  return exponentialBackoff({
    initialMs: Math.min(breaker.initialHalfOpenAfterMs, breaker.halfOpenAfterMs),
    factor: 2,
    maxMs: breaker.halfOpenAfterMs,
    jitter: 'none',
  });
}

/** The period of the `openings`-th opening in a row (the one a saved state with that count is in). */
export function openPeriodMs(breaker: BreakerPeriods, openings: number): number {
  const sequence = openPeriods(breaker).start();
  let period = sequence.next();
  // The breaker replays at most 64 openings on restore; by then the period is long at its cap.
  for (let i = 1; i < Math.min(Math.max(1, Math.floor(openings)), 64); i++) period = sequence.next();
  return period;
}
