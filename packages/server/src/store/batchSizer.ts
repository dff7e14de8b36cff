/**
 * Sizes the next batch of a long piece of work that runs on the event loop (erasure, retention)
 * from how long the last batch took, so each batch holds the loop about `targetMs`. A fixed
 * count cannot: the cost of deleting one row grows with the table (every index it touches),
 * from microseconds on a small database to 100 µs and more on one of millions of events.
 */
export interface BatchSizeOptions {
  /** The time one batch should take, ms. Default 30 (a stall nobody notices). */
  targetMs?: number;
  /** The smallest batch. Default 50: work always advances, however slow a row is. */
  min?: number;
  /** The largest batch. Default 5000. */
  max?: number;
}

export const BATCH_TARGET_MS = 30;
export const BATCH_MIN = 50;
export const BATCH_MAX = 5000;
/** At most this factor up per batch: one fast batch (a cached page, a lucky range) is no proof. */
const MAX_GROWTH = 2;

/**
 * The size of the next batch: `lastSize` scaled by targetMs / lastMs, growing at most 2x per
 * batch and shrinking as far as the measurement says (a batch 10x too slow is cut 10x at once),
 * then clamped to [min, max]. Pure and deterministic: the caller measures `lastMs`.
 * A lastMs of 0 or less (a clock that did not advance) counts as fast; a lastSize or lastMs
 * that is not a finite number gives `min` (start small, then grow).
 */
export function nextBatchSize(lastSize: number, lastMs: number, opts: BatchSizeOptions = {}): number {
  const targetMs = positiveOr(opts.targetMs, BATCH_TARGET_MS);
  const min = Math.max(1, Math.floor(positiveOr(opts.min, BATCH_MIN)));
  const max = Math.max(min, Math.floor(positiveOr(opts.max, BATCH_MAX)));
  if (!Number.isFinite(lastSize) || !Number.isFinite(lastMs) || lastSize < 1) return min;
  const scale = lastMs <= 0 ? MAX_GROWTH : Math.min(MAX_GROWTH, targetMs / lastMs);
  return Math.min(max, Math.max(min, Math.floor(lastSize * scale)));
}

function positiveOr(v: number | undefined, dflt: number): number {
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : dflt;
}
