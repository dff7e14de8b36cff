import {
  checkFunction,
  checkIntervalOrOff,
  checkInteger,
  checkOptionsObject,
  checkPositiveMs,
  rejectUnknownOptions,
} from '../performance/validateOption.js';
import { UsageOptionError } from './errors.js';

export interface UsageOptions {
  /** Features with local adoption stats; events for more are still sent. Default 500. */
  maxFeatures?: number;
  /** Distinct actions counted per feature; more are counted under '$other'. Default 50. */
  maxActionsPerFeature?: number;
  /** Users counted exactly per feature; past it, a HyperLogLog estimate (about 3 % error, 1 KiB). Default 1000. */
  maxExactUsers?: number;
  /** Who is acting when a call's props carry no `userId`. Default: nobody (users are not counted). */
  userId?: () => string | undefined;
  /** A conversation idle this long is ended with outcome 'abandoned'. Default 30 min. */
  conversationTimeoutMs?: number;
  /** Conversations open at once; past it the longest idle is ended as 'abandoned'. Default 1000. */
  maxActiveConversations?: number;
  /** Providers with their own stats; more are counted under '$other'. Default 50. */
  maxProviders?: number;
  /** A shown suggestion neither accepted nor dismissed after this long counts as expired. Default 10 min. */
  suggestionTimeoutMs?: number;
  /** Suggestions awaiting an answer; past it the oldest expires. Default 1000. */
  maxPendingSuggestions?: number;
  /** How often timeouts are checked. Default 60 000 ms; 0 = only when a call comes in. */
  sweepIntervalMs?: number;
  /** Longest id, feature, action, role or provider name accepted. Default 200. */
  maxNameLength?: number;
}

export type UsageSettings = Required<Omit<UsageOptions, 'userId'>> & {
  userId: (() => string | undefined) | undefined;
};

export const USAGE_DEFAULTS = {
  maxFeatures: 500,
  maxActionsPerFeature: 50,
  maxExactUsers: 1000,
  conversationTimeoutMs: 30 * 60_000,
  maxActiveConversations: 1000,
  maxProviders: 50,
  suggestionTimeoutMs: 10 * 60_000,
  maxPendingSuggestions: 1000,
  sweepIntervalMs: 60_000,
  maxNameLength: 200,
} as const;

const KNOWN = [...Object.keys(USAGE_DEFAULTS), 'userId'];
const fail = (option: string, reason: string): Error => new UsageOptionError(option, reason);

/** Merges options over the defaults once and validates them. */
export function usageSettings(options: UsageOptions = {}): UsageSettings {
  checkOptionsObject(options, fail);
  rejectUnknownOptions(options, KNOWN, fail);
  const d = USAGE_DEFAULTS;
  const int = (key: keyof typeof d, min: number, max: number): number =>
    checkInteger(options[key] ?? d[key], key, min, max, fail);
  return {
    maxFeatures: int('maxFeatures', 1, 1_000_000),
    maxActionsPerFeature: int('maxActionsPerFeature', 1, 10_000),
    maxExactUsers: int('maxExactUsers', 0, 1_000_000),
    conversationTimeoutMs: checkPositiveMs(
      options.conversationTimeoutMs ?? d.conversationTimeoutMs,
      'conversationTimeoutMs',
      fail,
    ),
    maxActiveConversations: int('maxActiveConversations', 1, 1_000_000),
    maxProviders: int('maxProviders', 1, 10_000),
    suggestionTimeoutMs: checkPositiveMs(
      options.suggestionTimeoutMs ?? d.suggestionTimeoutMs,
      'suggestionTimeoutMs',
      fail,
    ),
    maxPendingSuggestions: int('maxPendingSuggestions', 1, 1_000_000),
    sweepIntervalMs: checkIntervalOrOff(
      options.sweepIntervalMs ?? d.sweepIntervalMs,
      'sweepIntervalMs',
      fail,
    ),
    maxNameLength: int('maxNameLength', 1, 10_000),
    userId: options.userId === undefined ? undefined : checkFunction(options.userId, 'userId', fail),
  };
}
