import { ConfigError } from './errors.js';

export interface HealthCheckOptions {
  /** Time between the starts of two runs. Default 30 000 ms; 0: no schedule (one run at start, then only `runNow()`). */
  readonly intervalMs?: number;
  /** A run still going after this long is a failure and its signal is aborted. Default 5 000 ms. */
  readonly timeoutMs?: number;
  /** A failing critical check makes the whole monitor unhealthy; a non-critical one, degraded. Default true. */
  readonly critical?: boolean;
  /** Consecutive failures before the check turns unhealthy. Default 3. */
  readonly failureThreshold?: number;
  /** Consecutive successes before an unhealthy check is healthy again. Default 1. */
  readonly recoveryThreshold?: number;
}

/** The monitor's options; the check options given here are the defaults of every check. */
export interface HealthMonitorOptions extends HealthCheckOptions {
  /**
   * Failures within this long of a check's first run (at `start()`, at the first `runNow()`,
   * or at registration on a started monitor) are recorded but turn nothing unhealthy. Default 0.
   */
  readonly gracePeriodMs?: number;
  /** The fetch HTTP checks use. Default `globalThis.fetch`. */
  readonly fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * The wall clock, in epoch ms, for report times (`lastCheckedAt`, `timestamp`). Default
   * `Date.now`. Grace periods are measured on a monotonic clock (`performance.now()`), which a
   * wall-clock step does not move.
   */
  readonly now?: () => number;
}

export type CheckSettings = Required<HealthCheckOptions>;

export const HEALTH_CHECK_DEFAULTS: CheckSettings = {
  intervalMs: 30_000,
  timeoutMs: 5_000,
  critical: true,
  failureThreshold: 3,
  recoveryThreshold: 1,
};

// setTimeout fires at once for anything longer, which would turn an interval into a busy loop.
const MAX_DELAY_MS = 2_147_483_647;
const CHECK_KEYS = new Set(Object.keys(HEALTH_CHECK_DEFAULTS));
const MONITOR_KEYS = new Set([...CHECK_KEYS, 'gracePeriodMs', 'fetch', 'now']);

export interface MonitorSettings {
  readonly defaults: CheckSettings;
  readonly gracePeriodMs: number;
  readonly fetch: HealthMonitorOptions['fetch'];
  readonly now: () => number;
}

/** Merges the monitor's options over the defaults once, and validates them. */
export function monitorSettings(options: HealthMonitorOptions): MonitorSettings {
  if (options === null || typeof options !== 'object') throw new ConfigError('options', 'must be an object');
  rejectUnknown(options, MONITOR_KEYS, '');
  const gracePeriodMs = options.gracePeriodMs ?? 0;
  if (
    typeof gracePeriodMs !== 'number' ||
    !(gracePeriodMs >= 0 && gracePeriodMs < Number.POSITIVE_INFINITY)
  ) {
    throw new ConfigError('gracePeriodMs', `must be a finite number >= 0, got ${String(gracePeriodMs)}`);
  }
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw new ConfigError('fetch', 'must be a function');
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new ConfigError('now', 'must be a function returning epoch ms');
  }
  return {
    defaults: checkSettings(options, HEALTH_CHECK_DEFAULTS, ''),
    gracePeriodMs,
    fetch: options.fetch,
    now: options.now ?? Date.now,
  };
}

/** Merges one check's options over the monitor's defaults, and validates them; `prefix` names the check. */
export function checkSettings(
  options: HealthCheckOptions,
  defaults: CheckSettings,
  prefix: string,
): CheckSettings {
  if (options === null || typeof options !== 'object')
    throw new ConfigError(`${prefix}options`, 'must be an object');
  if (prefix !== '') rejectUnknown(options, CHECK_KEYS, prefix);
  const merged = {
    intervalMs: options.intervalMs ?? defaults.intervalMs,
    timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
    critical: options.critical ?? defaults.critical,
    failureThreshold: options.failureThreshold ?? defaults.failureThreshold,
    recoveryThreshold: options.recoveryThreshold ?? defaults.recoveryThreshold,
  };
  // intervalMs 0: no schedule (a first run at start, then only runNow); a timeout of 0 would fail every run.
  for (const key of ['intervalMs', 'timeoutMs'] as const) {
    const value = merged[key];
    const least = key === 'intervalMs' ? 0 : 1;
    if (typeof value !== 'number' || !(value >= least && value <= MAX_DELAY_MS)) {
      throw new ConfigError(
        `${prefix}${key}`,
        `must be a number of ms in [${least}, ${MAX_DELAY_MS}], got ${String(value)}`,
      );
    }
  }
  for (const key of ['failureThreshold', 'recoveryThreshold'] as const) {
    const value = merged[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`${prefix}${key}`, `must be an integer >= 1, got ${String(value)}`);
    }
  }
  if (typeof merged.critical !== 'boolean') {
    throw new ConfigError(`${prefix}critical`, `must be a boolean, got ${String(merged.critical)}`);
  }
  return merged;
}

function rejectUnknown(options: object, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new ConfigError(`${prefix}${key}`, 'is not a health monitor option');
  }
}
