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
