import type { OutboxTuning } from './options.js';

/** The keys of `tuning` among `keys` that are set (an absent key keeps the outbox's default). */
export function pickTuning<K extends keyof OutboxTuning>(
  tuning: OutboxTuning,
  keys: readonly K[],
): Pick<OutboxTuning, K> {
  const out: Partial<Pick<OutboxTuning, K>> = {};
  for (const key of keys) if (tuning[key] !== undefined) out[key] = tuning[key];
  return out as Pick<OutboxTuning, K>;
}
