import type { Feature, FeatureHost } from '../feature.js';
import {
  checkIntervalOrOff,
  checkOptionsObject,
  rejectUnknownOptions,
} from '../performance/validateOption.js';
import { deliveryReport } from './deliveryReport.js';
import { HealthOptionError } from './errors.js';

export interface DeliveryReportOptions {
  /** How often the client's own delivery stats are looked at and sent. Default 60 000 ms; 0: never on a timer, only by `sendDeliveryReport()`. */
  intervalMs?: number;
}

export const DELIVERY_REPORT_DEFAULTS = { intervalMs: 60_000 } as const;

/** What the reporter reads: the client's `stats()`, or anything of its shape. */
export type DeliveryStatsSource = () => Promise<Record<string, unknown>> | Record<string, unknown>;

const fail = (option: string, reason: string): Error =>
  new HealthOptionError(`deliveryReport.${option}`, reason);

/** Resolves the options (throwing a `HealthOptionError` naming a bad one); 0: no report on a timer. */
export function deliveryReportInterval(options: DeliveryReportOptions | undefined): number {
  if (options === undefined) return DELIVERY_REPORT_DEFAULTS.intervalMs;
  checkOptionsObject(options, (option, reason) => new HealthOptionError('deliveryReport', reason));
  rejectUnknownOptions(options, Object.keys(DELIVERY_REPORT_DEFAULTS), fail);
  return checkIntervalOrOff(options.intervalMs ?? DELIVERY_REPORT_DEFAULTS.intervalMs, 'intervalMs', fail);
}

/**
 * Homing's own delivery health, sent as `$homing_delivery` (the stats plus `delta`, see
 * `deliveryReport`) every interval, whether or not the app uses health checks, so a team sees
 * telemetry loss instead of guessing. Like Sentry's client reports, an interval in which nothing
 * happened sends nothing: no event tracked but the last report, nothing dropped, no failed
 * attempt and an empty queue. The timer is unref'd: it never keeps a process alive.
 */
export class DeliveryReporter implements Feature {
  #last: Record<string, unknown> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #busy = false;

  constructor(
    private readonly host: FeatureHost,
    private readonly stats: DeliveryStatsSource,
    intervalMs: number,
  ) {
    if (intervalMs > 0) {
      this.#timer = setInterval(() => void this.report(), intervalMs);
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  /** Reads the stats and sends the report unless the interval was quiet; resolves whether it sent. */
  async report(): Promise<boolean> {
    if (this.#closed || this.#busy) return false;
    this.#busy = true;
    try {
      const current = await this.stats();
      if (this.#closed || current === null || typeof current !== 'object') return false;
      if (quiet(current, this.#last)) return false;
      this.host.track('$homing_delivery', deliveryReport(current, this.#last));
      this.#last = JSON.parse(JSON.stringify(current)) as Record<string, unknown>;
      return true;
    } catch (error) {
      this.host.logger.debug('delivery report skipped: the stats could not be read', {
        error: String(error),
      });
      return false;
    } finally {
      this.#busy = false;
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Nothing to report since `previous` (the stats at the last report, whose own event is the one
 * `tracked` may have grown by): no other event tracked, nothing dropped, no failed attempt, and
 * nothing waiting in the queue.
 */
function quiet(current: Record<string, unknown>, previous: Record<string, unknown> | undefined): boolean {
  const grew = (key: string, by: number): boolean => numberAt(current, key) - numberAt(previous, key) > by;
  if (grew('tracked', previous === undefined ? 0 : 1) || grew('failedAttempts', 0)) return false;
  const queue = current.queue as { events?: unknown } | null | undefined;
  if (typeof queue?.events === 'number' && queue.events > 0) return false;
  const dropped = current.dropped;
  if (dropped !== null && typeof dropped === 'object') {
    const before = (previous?.dropped ?? {}) as Record<string, unknown>;
    for (const [reason, n] of Object.entries(dropped)) {
      if (typeof n === 'number' && n > numberAt(before, reason)) return false;
    }
  }
  return true;
}

function numberAt(stats: Record<string, unknown> | undefined, key: string): number {
  const v = stats?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
