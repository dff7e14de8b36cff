import { ConfigError, HealthMonitor } from '@homing/resilience';
import type {
  Disposable,
  HealthCheckOptions,
  HealthReport,
  HealthStatus,
  HealthStatusChange,
  HttpHealthCheck,
} from '@homing/resilience';
import type { Feature, FeatureHost } from '../feature.js';
import { checkHost } from '../performance/validateOption.js';
import { adaptCheck } from './adaptCheck.js';
import type { ServiceCheck } from './adaptCheck.js';
import { deliveryReport } from './deliveryReport.js';
import { HealthOptionError } from './errors.js';
import { healthSettings, readCheckOptions, readHttpCheck } from './healthOptions.js';
import type { HealthReporterOptions, HealthSettings } from './healthOptions.js';

export interface ServiceHealthReport extends HealthReport {
  /** Since the reporter was created, ms. */
  readonly uptimeMs: number;
}

/**
 * Health of the services an app depends on, on `@homing/resilience`'s HealthMonitor (thresholds,
 * timeouts, no overlapping runs, aggregate status), told to the server: a `$health` event on
 * every status change (of a service, then of the whole), a periodic `$health` heartbeat, and a
 * periodic `$homing_delivery` with the client's own delivery stats so telemetry loss is visible.
 */
export class HealthReporter implements Feature {
  readonly #host: FeatureHost;
  readonly #settings: HealthSettings;
  readonly #monitor: HealthMonitor;
  readonly #startedAt: number;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #lastDelivery: Record<string, unknown> | undefined;
  readonly #pendingChanges: HealthStatusChange[] = [];
  #started = false;
  #closed = false;

  constructor(host: FeatureHost, options: HealthReporterOptions = {}) {
    checkHost(host, (option, reason) => new HealthOptionError(option, reason));
    this.#host = host;
    this.#settings = healthSettings(options);
    this.#monitor = translateConfigErrors(
      () => new HealthMonitor({ ...this.#settings.monitor, now: () => host.now() }),
    );
    this.#startedAt = host.now();
    this.#monitor.onStatusChange((change) => this.#onChange(change));
    const { heartbeatIntervalMs, deliveryIntervalMs, deliveryStats } = this.#settings;
    if (heartbeatIntervalMs > 0) this.#every(heartbeatIntervalMs, () => this.sendHeartbeat());
    if (deliveryStats !== undefined && deliveryIntervalMs > 0)
      this.#every(deliveryIntervalMs, () => void this.sendDeliveryReport());
    if (this.#settings.autoStart) this.start();
  }

  /**
   * Watches a service: `check(signal)` answers `true`/nothing (healthy), `false` or throws
   * (failed), `{ ok, degraded?, details?, message? }`, or design 003's `{ status, message? }`;
   * or an HTTP check `{ url, method?, expectedStatus?, headers? }`. Options default to the
   * reporter's. Dispose the result (or call `unregisterService`) to stop watching it.
   */
  registerService(
    name: string,
    check: ServiceCheck | HttpHealthCheck,
    options: HealthCheckOptions = {},
  ): Disposable {
    if (this.#closed) throw new HealthOptionError('registerService', 'the reporter is closed');
    if (typeof check !== 'function' && (check === null || typeof check !== 'object')) {
      throw new HealthOptionError('check', 'must be a function or { url }');
    }
    // Read into plain copies first: a getter or Proxy trap that throws is then a bad option,
    // not a plain Error from inside the monitor.
    const run = typeof check === 'function' ? adaptCheck(check) : (readHttpCheck(check) as HttpHealthCheck);
    const copy = readCheckOptions(options, `${typeof name === 'string' ? name : 'service'}.options`);
    return translateConfigErrors(() => this.#monitor.register(name, run, copy as HealthCheckOptions));
  }

  unregisterService(name: string): boolean {
    return this.#monitor.unregister(name);
  }

  /** Runs the checks (the first time, and then on their intervals). Done at creation unless `autoStart: false`. */
  start(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    this.#monitor.start();
  }

  /** The status of each service and of the whole; with `refresh`, after running every check now. */
  async getHealthReport(options: { refresh?: boolean } = {}): Promise<ServiceHealthReport> {
    const report = options.refresh === true ? await this.#monitor.runNow() : this.#monitor.report();
    return { ...report, uptimeMs: Math.max(0, this.#host.now() - this.#startedAt) };
  }

  /** True only while the whole is 'healthy' (not degraded, not unknown before the first results). */
  isHealthy(): boolean {
    return this.#monitor.status === 'healthy';
  }

  get status(): HealthStatus {
    return this.#monitor.status;
  }

  /** Sends a `$health` heartbeat now (the timer does it every heartbeatIntervalMs). */
  sendHeartbeat(): void {
    if (this.#closed) return;
    const report = this.#monitor.report();
    this.#track('$health', {
      $kind: 'heartbeat',
      status: report.status,
      uptime_ms: Math.max(0, this.#host.now() - this.#startedAt),
      services: servicesOf(report),
    });
  }

  /**
   * Sends `$homing_delivery` now from the `deliveryStats` option (sync or async, like the
   * client's `stats()`); resolves false when there is none or it failed (logged at debug level).
   */
  async sendDeliveryReport(): Promise<boolean> {
    const read = this.#settings.deliveryStats;
    if (this.#closed || read === undefined) return false;
    let stats: unknown;
    try {
      stats = await read();
    } catch (error) {
      this.#host.logger.debug('health: deliveryStats threw; no $homing_delivery this time', {
        error: String(error),
      });
      return false;
    }
    if (this.#closed) return false;
    if (stats === null || typeof stats !== 'object' || Array.isArray(stats)) {
      this.#host.logger.debug('health: deliveryStats did not answer an object', { got: typeof stats });
      return false;
    }
    const current = stats as Record<string, unknown>;
    this.#track('$homing_delivery', deliveryReport(current, this.#lastDelivery));
    this.#lastDelivery = structuredCloneSafe(current);
    return true;
  }

  /** Stops every timer and check (runs in flight are aborted). Final. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await this.#monitor.close();
  }

  /**
   * The monitor tells a service's change before it recomputes the whole, so the events wait for
   * the end of the current job: each then carries the aggregate status as it ended up.
   */
  #onChange(change: HealthStatusChange): void {
    if (this.#closed) return;
    if (this.#pendingChanges.push(change) > 1) return;
    queueMicrotask(() => {
      const changes = this.#pendingChanges.splice(0);
      if (this.#closed) return;
      const report = this.#monitor.report();
      for (const c of changes) this.#sendChange(c, report);
    });
  }

  #sendChange(change: HealthStatusChange, report: HealthReport): void {
    if (change.scope === 'check') {
      this.#track('$health', {
        $kind: 'change',
        scope: 'service',
        service: change.check,
        critical: change.critical,
        previous: change.previous,
        current: change.current,
        ...(change.error === undefined ? {} : { error: change.error }),
        status: report.status,
      });
    } else {
      this.#track('$health', {
        $kind: 'change',
        scope: 'aggregate',
        previous: change.previous,
        current: change.current,
        status: report.status,
        services: servicesOf(report),
      });
    }
  }

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    (timer as any).unref?.();
    this.#timers.push(timer);
  }

  #track(event: string, properties: Record<string, unknown>): void {
    try {
      this.#host.track(event, properties);
    } catch (error) {
      this.#host.logger.debug('health: host.track threw', { error: String(error) });
    }
  }
}

function servicesOf(report: HealthReport): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const [name, check] of Object.entries(report.checks)) {
    Object.defineProperty(services, name, {
      value: {
        status: check.status,
        critical: check.critical,
        latency_ms: check.latencyMs,
        consecutive_failures: check.consecutiveFailures,
        ...(check.lastError === undefined ? {} : { last_error: check.lastError }),
      },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return services;
}

/**
 * What the constructor checks of `options` (its settings and its monitor's), without starting
 * anything: for a client that makes no reporter (disabled) but must find a bad option all the same.
 */
export function checkHealthReporterOptions(options: HealthReporterOptions): void {
  const settings = healthSettings(options);
  translateConfigErrors(() => new HealthMonitor({ ...settings.monitor }));
}

/** The monitor's ConfigError, as this feature's typed error naming the same option. */
function translateConfigErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ConfigError) throw new HealthOptionError(error.option, error.reason);
    throw error;
  }
}

/** A copy of the numbers needed for the next delta; anything uncloneable is left out. */
function structuredCloneSafe(value: Record<string, unknown>): Record<string, unknown> {
  try {
    return structuredClone(value);
  } catch {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'number') copy[k] = v;
      else if (v !== null && typeof v === 'object') {
        const inner: Record<string, unknown> = {};
        for (const [ik, iv] of Object.entries(v)) if (typeof iv === 'number') inner[ik] = iv;
        copy[k] = inner;
      }
    }
    return copy;
  }
}

/** Creates a health reporter over a feature host; throws a HealthOptionError for bad options. */
export function createHealthReporter(host: FeatureHost, options?: HealthReporterOptions): HealthReporter {
  return new HealthReporter(host, options);
}
