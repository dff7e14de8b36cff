import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import type { DropListeners } from './records.js';

/**
 * The time every outbox ages its events as of for retention (`retentionMs`): the outbox's clock,
 * unless that clock jumped ahead of what the monotonic clock measured.
 *
 * Why: a device without a real-time clock (a Raspberry Pi with fake-hwclock, a dead CMOS
 * battery) boots with a stale date, tracks, then NTP steps the clock forward by weeks: cut off
 * by the wall clock, every event queued before the step was dropped as expired at the next
 * claim, although it was milliseconds old. As the server's retention job does
 * (`retentionJob.ts`), a reference is kept, the two clocks read together: at start, then at
 * every reading whose wall clock agreed within CLOCK_JUMP_MARGIN_MS (a step back is trusted,
 * since it ages less, but not taken as the reference, so its correction forward is no jump).
 * A reading more than the margin ahead of the reference plus the monotonic time since ages as of
 * the measured time instead, until the clocks agree again or the process restarts. Limits: a
 * clock already wrong at start cannot be told; a suspended machine (the monotonic clock stops)
 * looks like a jump, so retention lags by the time slept. Both keep events, never drop early;
 * `maxEvents`/`maxBytes` still bound the queue.
 */
export const CLOCK_JUMP_MARGIN_MS = 60_000;

/** Retention drops are warned about at most this often (each warning gives the count since). */
export const RETENTION_WARN_INTERVAL_MS = 60_000;

/**
 * `performance.now()`, looked up at each reading (tests replace it); NaN where there is none,
 * and the wall clock is then trusted as before.
 */
function performanceNow(): number {
  const perf = (globalThis as { performance?: { now?: () => number } }).performance;
  return typeof perf?.now === 'function' ? perf.now() : NaN;
}

/** A clock for retention cutoffs over `now` (the outbox's `now` option); see the file comment. */
export function retentionClock(
  now: () => number,
  logger: Logger = silentLogger,
  monotonicNow: () => number = performanceNow,
): () => number {
  let reference = { wall: now(), monotonic: monotonicNow() };
  let warned = false;
  return () => {
    const wall = now();
    const monotonic = monotonicNow();
    if (!Number.isFinite(wall) || !Number.isFinite(monotonic) || !Number.isFinite(reference.wall)) {
      if (Number.isFinite(wall) && Number.isFinite(monotonic)) reference = { wall, monotonic };
      return wall;
    }
    const supported = reference.wall + (monotonic - reference.monotonic);
    const aheadMs = wall - supported;
    if (aheadMs <= CLOCK_JUMP_MARGIN_MS) {
      if (aheadMs >= -CLOCK_JUMP_MARGIN_MS) reference = { wall, monotonic };
      warned = false;
      return wall;
    }
    if (!warned) {
      warned = true;
      try {
        logger.warn(
          'outbox: the clock jumped ahead of the time measured since it was last trusted; events ' +
            'are aged for retention as of the measured time until the clocks agree or the process restarts',
          { aheadMs: Math.round(aheadMs) },
        );
      } catch {
        // A logger's failure must not fail the claim that read the clock.
      }
    }
    return supported;
  };
}

/**
 * Warns through `logger` when retention drops events: a silent loss of a whole queue (a clock
 * set wrong at start, a week offline) was otherwise seen only in `stats().dropped`. At most once
 * per RETENTION_WARN_INTERVAL_MS, with the count since the last warning.
 */
export function warnOnRetentionDrops(
  drops: DropListeners,
  logger: Logger,
  retentionMs: number,
  monotonicNow: () => number = performanceNow,
): void {
  if (logger === silentLogger) return;
  let unwarned = 0;
  let lastWarnMs = -Infinity;
  drops.add((drop) => {
    if (drop.reason !== 'retention') return;
    unwarned += drop.count;
    const at = monotonicNow();
    // Without a monotonic clock, every drop is warned about.
    if (at - lastWarnMs < RETENTION_WARN_INTERVAL_MS) return;
    lastWarnMs = at;
    logger.warn('outbox: events older than the retention period were dropped', {
      events: unwarned,
      retentionMs,
    });
    unwarned = 0;
  });
}
