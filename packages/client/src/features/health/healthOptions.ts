import type { HealthCheckOptions, HealthMonitorOptions } from '@homing/resilience';
import {
  checkBoolean,
  checkFunction,
  checkIntervalOrOff,
  checkOptionsObject,
  rejectUnknownOptions,
} from '../performance/validateOption.js';
import { HealthOptionError } from './errors.js';

export interface HealthReporterOptions extends HealthCheckOptions {
  /** A `$health` heartbeat with every service's status this often. Default 300 000 ms (5 min); 0 = off. */
  heartbeatIntervalMs?: number;
  /** Homing's own delivery stats (dropped by reason, queue size, breaker state), sent as `$homing_delivery`. */
  deliveryStats?: () => Record<string, unknown> | Promise<Record<string, unknown>>;
  /** How often `$homing_delivery` is sent when `deliveryStats` is given. Default 60 000 ms; 0 = off. */
  deliveryIntervalMs?: number;
  /** Run the checks from the start (else on `start()`). Default true. */
  autoStart?: boolean;
  /** Failures this soon after a check's first run turn nothing unhealthy. Default 0. */
  gracePeriodMs?: number;
  /** The fetch HTTP checks (`{ url }`) use. Default the global fetch. */
  fetch?: HealthMonitorOptions['fetch'];
}

export interface HealthSettings {
  heartbeatIntervalMs: number;
  deliveryStats: (() => Record<string, unknown> | Promise<Record<string, unknown>>) | undefined;
  deliveryIntervalMs: number;
  autoStart: boolean;
  /** What goes to the HealthMonitor (its defaults and checks are its own). */
  monitor: Omit<HealthMonitorOptions, 'now'>;
}

export const HEALTH_DEFAULTS = {
  heartbeatIntervalMs: 300_000,
  deliveryIntervalMs: 60_000,
  autoStart: true,
} as const;

const MONITOR_KEYS = [
  'intervalMs',
  'timeoutMs',
  'critical',
  'failureThreshold',
  'recoveryThreshold',
  'gracePeriodMs',
  'fetch',
] as const;
const KNOWN = [...Object.keys(HEALTH_DEFAULTS), 'deliveryStats', ...MONITOR_KEYS];
const fail = (option: string, reason: string): Error => new HealthOptionError(option, reason);

/** Merges the reporter's own options over the defaults; the monitor's are checked by the monitor. */
export function healthSettings(options: HealthReporterOptions = {}): HealthSettings {
  try {
    return readHealthSettings(options);
  } catch (error) {
    // Anything else was thrown by the app's object as it was read (a getter, a Proxy trap).
    if (error instanceof HealthOptionError) throw error;
    throw new HealthOptionError('options', unreadable(error));
  }
}

function readHealthSettings(options: HealthReporterOptions): HealthSettings {
  checkOptionsObject(options, fail);
  rejectUnknownOptions(options, KNOWN, fail);
  const d = HEALTH_DEFAULTS;
  const monitor: Record<string, unknown> = {};
  for (const key of MONITOR_KEYS) if (options[key] !== undefined) monitor[key] = options[key];
  return {
    heartbeatIntervalMs: checkIntervalOrOff(
      options.heartbeatIntervalMs ?? d.heartbeatIntervalMs,
      'heartbeatIntervalMs',
      fail,
    ),
    deliveryStats:
      options.deliveryStats === undefined
        ? undefined
        : checkFunction<() => Record<string, unknown> | Promise<Record<string, unknown>>>(
            options.deliveryStats,
            'deliveryStats',
            fail,
          ),
    deliveryIntervalMs: checkIntervalOrOff(
      options.deliveryIntervalMs ?? d.deliveryIntervalMs,
      'deliveryIntervalMs',
      fail,
    ),
    autoStart: checkBoolean(options.autoStart ?? d.autoStart, 'autoStart', fail),
    monitor,
  };
}

/** The option keys of one check (the monitor's `HealthCheckOptions`). */
const CHECK_OPTION_KEYS = ['intervalMs', 'timeoutMs', 'critical', 'failureThreshold', 'recoveryThreshold'];
/** The keys of an HTTP check (the monitor's `HttpHealthCheck`). */
const HTTP_CHECK_KEYS = ['url', 'method', 'expectedStatus', 'headers'];

/**
 * A plain copy of `registerService`'s options, so the monitor validates data, not the app's
 * getters or Proxy: one that throws as it is read is a HealthOptionError naming `option`
 * (`cache.options`). Own keys are copied (an unknown one is still refused by the monitor), and
 * the known ones whether own or inherited, as the monitor reads them. Not an object: as given,
 * for the monitor to refuse.
 */
export function readCheckOptions(options: unknown, option: string): unknown {
  return readObject(options, option, CHECK_OPTION_KEYS);
}

/** A plain copy of an HTTP check `{ url, method, expectedStatus, headers }`, as `readCheckOptions`. */
export function readHttpCheck(check: unknown): unknown {
  const copy = readObject(check, 'check', HTTP_CHECK_KEYS);
  if (copy === null || typeof copy !== 'object') return copy;
  const fields = copy as Record<string, unknown>;
  try {
    const { headers, expectedStatus } = fields;
    if (headers !== null && typeof headers === 'object') {
      fields['headers'] = Object.fromEntries(Object.entries(headers));
    }
    if (Array.isArray(expectedStatus)) fields['expectedStatus'] = Array.from(expectedStatus as unknown[]);
  } catch (error) {
    throw new HealthOptionError('check', unreadable(error));
  }
  return copy;
}

function readObject(value: unknown, option: string, known: readonly string[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  const source = value as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  try {
    for (const key of new Set([...Object.keys(source), ...known])) {
      const field = source[key];
      // Defined, not assigned: a key `__proto__` stays a key, for the monitor to refuse.
      if (field !== undefined || Object.hasOwn(source, key)) {
        Object.defineProperty(copy, key, {
          value: field,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
  } catch (error) {
    throw new HealthOptionError(option, unreadable(error));
  }
  return copy;
}

/** Why an object of the app's could not be read, without trusting what it threw. */
function unreadable(error: unknown): string {
  let why: string;
  try {
    why = error instanceof Error ? error.message : String(error);
  } catch {
    why = 'unprintable';
  }
  return `could not be read: a getter or Proxy trap threw (${why.slice(0, 200)})`;
}
