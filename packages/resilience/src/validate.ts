import { ConfigError } from './errors.js';

/** The longest delay setTimeout honours; beyond it Node and browsers fire after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

export function checkObject(option: string, value: unknown): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(option, 'must be an object');
  }
}

/** Rejects option names the policy does not know: a misspelt option must not be ignored silently. */
export function checkKnown(option: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new ConfigError(key, `is not an option of ${option}`);
  }
}

/** A delay in milliseconds: finite, >= 0 and no longer than a timer can wait. */
export function checkDelay(option: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ConfigError(option, 'must be a number of milliseconds');
  }
  if (value < 0) throw new ConfigError(option, 'must not be negative');
  if (!Number.isFinite(value) || value > MAX_TIMER_MS) {
    throw new ConfigError(option, `must be at most ${MAX_TIMER_MS} ms`);
  }
  return value;
}

/**
 * A delay a Backoff of the app's own answered, kept to what a timer can wait: NaN and negative
 * values are 0 (now), Infinity and anything past MAX_TIMER_MS are MAX_TIMER_MS (Node would
 * otherwise fire a too-large timer after 1 ms, the opposite of what was asked).
 */
export function clampDelay(ms: number): number {
  // A Backoff of the app's own may answer a string or a BigInt, which would compare as a
  // number here and then concatenate or throw where a delay is added to a time.
  if (typeof ms !== 'number') ms = typeof ms === 'bigint' || typeof ms === 'string' ? Number(ms) : NaN;
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}

/** A duration that may be Infinity (a budget, not a timer). */
export function checkBudget(option: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ConfigError(option, 'must be a number of milliseconds');
  }
  if (value < 0) throw new ConfigError(option, 'must not be negative');
  return value;
}

export function checkInteger(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ConfigError(option, 'must be an integer');
  }
  if (value < min) throw new ConfigError(option, `must be at least ${min}`);
  return value;
}

export function checkFunction<T>(option: string, value: unknown): T {
  if (typeof value !== 'function') throw new ConfigError(option, 'must be a function');
  return value as T;
}
