import { describeValue } from '../describeValue.js';
import { OutboxOptionError } from './errors.js';
import type { OutboxLimits } from './outbox.js';

/** The one place the outbox limits get their defaults (see `OutboxLimits` for each meaning). */
export const DEFAULT_OUTBOX_LIMITS: Readonly<OutboxLimits> = Object.freeze({
  maxEvents: 100_000,
  maxBytes: 64 * 1024 * 1024,
  overflow: 'drop-oldest',
  retentionMs: 7 * 24 * 60 * 60 * 1000,
  maxDeadLetters: 10_000,
  // Dead letters are kept to be looked at and replayed, not sent: a quarter of `maxBytes` holds
  // thousands of typical events, while the count alone let 10 000 events of up to 512 KiB
  // (`maxEventBytes`) take 5 GiB, which the file outbox reads whole to list or replay them.
  maxDeadLetterBytes: 16 * 1024 * 1024,
});

/**
 * Merges `options` over the defaults (with `??`, so 0 stays 0) and validates once.
 * `prefix` names the options object in errors, e.g. "limits." gives "limits.maxEvents".
 */
export function resolveOutboxLimits(options: Partial<OutboxLimits> | undefined, prefix = ''): OutboxLimits {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new OutboxOptionError(prefix.replace(/\.$/, '') || 'options', 'must be an object');
  }
  const limits: OutboxLimits = {
    maxEvents: options?.maxEvents ?? DEFAULT_OUTBOX_LIMITS.maxEvents,
    maxBytes: options?.maxBytes ?? DEFAULT_OUTBOX_LIMITS.maxBytes,
    overflow: options?.overflow ?? DEFAULT_OUTBOX_LIMITS.overflow,
    retentionMs: options?.retentionMs ?? DEFAULT_OUTBOX_LIMITS.retentionMs,
    maxDeadLetters: options?.maxDeadLetters ?? DEFAULT_OUTBOX_LIMITS.maxDeadLetters,
    maxDeadLetterBytes: options?.maxDeadLetterBytes ?? DEFAULT_OUTBOX_LIMITS.maxDeadLetterBytes,
  };
  requireInteger(`${prefix}maxEvents`, limits.maxEvents, 1);
  requireInteger(`${prefix}maxBytes`, limits.maxBytes, 1);
  requireInteger(`${prefix}retentionMs`, limits.retentionMs, 0);
  requireInteger(`${prefix}maxDeadLetters`, limits.maxDeadLetters, 0);
  requireInteger(`${prefix}maxDeadLetterBytes`, limits.maxDeadLetterBytes, 0);
  if (limits.overflow !== 'drop-oldest' && limits.overflow !== 'drop-newest') {
    throw new OutboxOptionError(
      `${prefix}overflow`,
      `must be 'drop-oldest' or 'drop-newest', got ${describeValue(limits.overflow)}`,
    );
  }
  return limits;
}

/** Throws OutboxOptionError unless `value` is a safe integer from `min` to `max`. */
export function requireInteger(
  option: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): void {
  const problem = integerProblem(value, min, max);
  if (problem !== undefined) throw new OutboxOptionError(option, problem);
}

/** What is wrong with `value` as a safe integer from `min` to `max`, or undefined when nothing is. */
export function integerProblem(
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max)
    return undefined;
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
  return `must be an integer ${range}, got ${describeValue(value)}`;
}

/** Throws OutboxOptionError unless `value` is one of `allowed`. */
export function requireOneOf<T extends string>(
  option: string,
  value: unknown,
  allowed: readonly T[],
): asserts value is T {
  if (!allowed.includes(value as T)) {
    throw new OutboxOptionError(
      option,
      `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describeValue(value)}`,
    );
  }
}
