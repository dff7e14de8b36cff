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
      // Not granted: a report would be dropped (denied) or held to go out with the app's events
      // (pending), one an interval, each making the next interval look busy. The first report
      // after a grant covers the time without them.
      if (current.consent !== undefined && current.consent !== 'granted') return false;
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
 * Reasons that drop an event on its way in (`track()` to the outbox), so the last report's own
 * event may be the one dropped: sampled out by a rule on `$homing_delivery`, refused by the
 * app's `beforeSend`. The other reasons (overflow, retention, dead letters, ...) hit events that
 * were queued: always worth a report.
 */
// Not 'consent': it also counts queued events a denial cleared; no report is made while denied.
const ON_THE_WAY_IN = new Set(['sampling', 'rejected', 'invalid', 'too-large', 'disabled']);

/**
 * Nothing to report since `previous` (the stats at the last report, whose own event is the one
 * `tracked` may have grown by, and the one dropped on its way in, if one was): no other event
 * tracked, nothing else dropped, no failed attempt, and nothing waiting in the queue. Its own
 * drop counted as activity, a report sampled out or filtered out by `beforeSend` made the next
 * interval report again, without end.
 */
function quiet(current: Record<string, unknown>, previous: Record<string, unknown> | undefined): boolean {
  const growth = (key: string): number => numberAt(current, key) - numberAt(previous, key);
  const ownEvents = previous === undefined ? 0 : 1;
  const tracked = growth('tracked');
  if (tracked > ownEvents || growth('failedAttempts') > 0) return false;
  const queue = current.queue as { events?: unknown } | null | undefined;
  if (typeof queue?.events === 'number' && queue.events > 0) return false;
  const dropped = current.dropped;
  if (dropped !== null && typeof dropped === 'object') {
    const before = (previous?.dropped ?? {}) as Record<string, unknown>;
    let droppedOnTheWayIn = 0;
    for (const [reason, n] of Object.entries(dropped)) {
      const more = typeof n === 'number' ? n - numberAt(before, reason) : 0;
      if (more <= 0) continue;
      if (!ON_THE_WAY_IN.has(reason)) return false;
      droppedOnTheWayIn += more;
    }
    // Only the report's own event, when it was tracked this interval.
    if (droppedOnTheWayIn > Math.max(0, tracked)) return false;
  }
  return true;
}

function numberAt(stats: Record<string, unknown> | undefined, key: string): number {
  const v = stats?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
