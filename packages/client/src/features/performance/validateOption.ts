import { describeValue } from '../../describeValue.js';
import { MAX_DELAY_MS } from '../../maxDelay.js';

/**
 * Checks shared by the features' option parsers. Each takes the error factory of its feature,
 * so the thrown class names the feature and the option.
 */
export type OptionErrorFactory = (option: string, reason: string) => Error;

export function rejectUnknownOptions(
  options: object,
  known: readonly string[],
  fail: OptionErrorFactory,
): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw fail(key, 'is not a known option');
  }
}

/** An integer in [min, max]. */
export function checkInteger(
  value: unknown,
  option: string,
  min: number,
  max: number,
  fail: OptionErrorFactory,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw fail(option, `must be an integer in [${min}, ${max}], got ${describeValue(value)}`);
  }
  return value;
}

/** An interval in ms where 0 means off. */
export function checkIntervalOrOff(value: unknown, option: string, fail: OptionErrorFactory): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DELAY_MS) {
    throw fail(
      option,
      `must be a number of ms in [0, ${MAX_DELAY_MS}] (0 = off), got ${describeValue(value)}`,
    );
  }
  return value;
}

/** An interval in ms that must be positive. */
export function checkPositiveMs(value: unknown, option: string, fail: OptionErrorFactory): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > MAX_DELAY_MS) {
    throw fail(option, `must be a number of ms in [1, ${MAX_DELAY_MS}], got ${describeValue(value)}`);
  }
  return value;
}

export function checkBoolean(value: unknown, option: string, fail: OptionErrorFactory): boolean {
  if (typeof value !== 'boolean') throw fail(option, `must be a boolean, got ${describeValue(value)}`);
  return value;
}

export function checkFunction<T>(value: unknown, option: string, fail: OptionErrorFactory): T {
  if (typeof value !== 'function') throw fail(option, 'must be a function');
  return value as T;
}

export function checkOptionsObject(options: unknown, fail: OptionErrorFactory): object {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw fail('options', 'must be an object');
  }
  return options;
}

/** The FeatureHost every feature is given: checked once so a wrong one fails at construction. */
export function checkHost(host: unknown, fail: OptionErrorFactory): void {
  const h = host as Record<string, unknown> | null;
  if (h === null || typeof h !== 'object') throw fail('host', 'must be a FeatureHost object');
  for (const key of ['track', 'persist', 'now'] as const) {
    if (typeof h[key] !== 'function') throw fail(`host.${key}`, 'must be a function');
  }
  const logger = h.logger as Record<string, unknown> | null;
  if (logger === null || typeof logger !== 'object' || typeof logger.debug !== 'function') {
    throw fail('host.logger', 'must be a Logger');
  }
}
