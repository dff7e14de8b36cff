import { resolveErrorTrackingOptions } from '../features/errors/errorTrackingOptions.js';
import { performanceSettings } from '../features/performance/performanceOptions.js';
import { usageSettings } from '../features/usage/usageOptions.js';
import type { ErrorTrackingOptions } from '../features/errors/errorTrackingOptions.js';
import { createErrorTracker, flushPendingDuplicates } from '../features/errors/createErrorTracker.js';
import type {
  Breadcrumb,
  BreadcrumbInput,
  CaptureContext,
  ErrorGroup,
  ErrorStats,
  ErrorTracker,
  RecoveryDetails,
} from '../features/errors/types.js';
import type { FeatureHost } from '../features/feature.js';
import type { DeliveryReportOptions } from '../features/health/DeliveryReporter.js';
import { DeliveryReporter, deliveryReportInterval } from '../features/health/DeliveryReporter.js';
import type { HealthReporterOptions } from '../features/health/healthOptions.js';
import type { ServiceHealthReport } from '../features/health/HealthReporter.js';
import { checkHealthReporterOptions, HealthReporter } from '../features/health/HealthReporter.js';
import type { ServiceCheck } from '../features/health/adaptCheck.js';
import type { Tags } from '../features/performance/MetricRegistry.js';
import type { MetricSummary, OperationTiming } from '../features/performance/PerformanceTracker.js';
import { PerformanceTracker } from '../features/performance/PerformanceTracker.js';
import type { PerformanceOptions } from '../features/performance/performanceOptions.js';
import type { ConversationMessage, ConversationOutcome } from '../features/usage/ConversationTracker.js';
import { UsageTracker } from '../features/usage/UsageTracker.js';
import type { UsageOptions } from '../features/usage/usageOptions.js';
import type { Disposable, HealthCheckOptions, HttpHealthCheck } from '@homing/resilience';

/**
 * Which telemetry features the client carries, each with its own options. A feature given
 * options (an object) starts with the client, so its global hooks (unhandled errors, console
 * breadcrumbs, runtime metrics, health checks) are in place from the first line; one left out
 * starts on its first use with its defaults; `false` turns it off (its calls do nothing).
 */
export interface TelemetryFeatureOptions {
  errors?: ErrorTrackingOptions | false;
  performance?: PerformanceOptions | false;
  usage?: UsageOptions | false;
  health?: HealthReporterOptions | false;
  /**
   * `$homing_delivery`, the client's own delivery stats, every `intervalMs` (default 60 000;
   * quiet intervals send nothing), whether or not health checks are used. `false` turns it off.
   * `health.deliveryIntervalMs`, when given, is its interval too.
   */
  deliveryReport?: DeliveryReportOptions | false;
}

/** The feature calls the client carries (see each feature's README). */
export interface TelemetryFeatures {
  /**
   * Records an error as a `$exception` event; answers its id ('' when error tracking is off or
   * the client disabled).
   */
  captureError(error: unknown, context?: CaptureContext): string;
  addBreadcrumb(breadcrumb: BreadcrumbInput): void;
  getBreadcrumbs(): Breadcrumb[];
  trackRecovery(errorId: string, recovered: boolean, details?: RecoveryDetails): void;
  getErrorGroups(): ErrorGroup[];
  getErrorStats(): ErrorStats | undefined;

  mark(name: string): number | undefined;
  measure(name: string, startMark: string, endMark?: string): number | undefined;
  timing(name: string, valueMs: number, tags?: Tags): void;
  trackOperation(operation: OperationTiming): void;
  getSummary(name: string, tags?: Tags): MetricSummary | undefined;

  trackFeature(featureId: string, action: string, props?: Record<string, unknown>): boolean;
  startConversation(id?: string, meta?: Record<string, unknown>): string | undefined;
  trackMessage(conversationId: string, message: ConversationMessage): boolean;
  endConversation(conversationId: string, outcome?: ConversationOutcome): boolean;
  trackProviderRequest(provider: string, latencyMs: number, success: boolean, tokens?: number): boolean;
  suggestionShown(id: string, kind?: string): boolean;
  suggestionAccepted(id: string): boolean;
  suggestionDismissed(id: string): boolean;

  /** Watches a service (a function or `{ url }`); throws a typed error for a bad check or option. */
  registerService(
    name: string,
    check: ServiceCheck | HttpHealthCheck,
    options?: HealthCheckOptions,
  ): Disposable;
  getHealthReport(options?: { refresh?: boolean }): Promise<ServiceHealthReport | undefined>;
  /** true once the checks report the service healthy (false while unknown); true when health checks are off. */
  isHealthy(): boolean;

  /**
   * Sends `$homing_delivery` now (the timer does it every `deliveryReport.intervalMs`) unless
   * nothing happened since the last one; resolves whether it sent.
   */
  sendDeliveryReport(): Promise<boolean>;

  /**
   * The feature objects themselves, created on first access (undefined when turned off, on a
   * disabled client, and when first accessed after shutdown).
   */
  readonly errors: ErrorTracker | undefined;
  readonly performance: PerformanceTracker | undefined;
  readonly usage: UsageTracker | undefined;
  readonly health: HealthReporter | undefined;
}

/** The features bound to one client, and how to stop them. */
export interface FeatureSet {
  api: TelemetryFeatures;
  /**
   * Sends pending metric summaries and duplicate counts into the pipeline (before an exit);
   * `processEnding` (Node's `exit`: nothing runs after it) also ends the open conversations as
   * 'interrupted', as `close()` does, so a process that ends without `shutdown()` keeps them.
   */
  flush(processEnding?: boolean): void;
  close(): Promise<void>;
}

type Lazy<T> = { get(): T | undefined; peek(): T | undefined };

/**
 * A feature made on first use, unless `inert()`: then what was made (closed by now) or nothing,
 * since making one starts its timers and global hooks, which nothing would ever stop.
 */
function lazy<T>(
  option: object | false | undefined,
  make: (options: never) => T,
  eager: boolean,
  inert: () => boolean,
): Lazy<T> {
  let made: T | undefined;
  const get = (): T | undefined => {
    if (option === false || inert()) return made;
    made ??= make((option ?? {}) as never);
    return made;
  };
  if (eager && option !== undefined) get();
  return { get, peek: () => made };
}

/**
 * Builds the features over a client's `FeatureHost`. `eager` is false for the disabled client,
 * which makes none at all, so `DO_NOT_TRACK=1` installs no global hook even when features are
 * configured: its calls answer as if each feature were turned off. Option errors throw here, at
 * `createTelemetry`, naming the option. Once `close()` began, no feature is made any more.
 */
export function createFeatureSet(
  host: FeatureHost,
  options: TelemetryFeatureOptions,
  clientStats: () => Promise<unknown>,
  eager: boolean,
): FeatureSet {
  // The disabled client makes no feature, but a bad option is found where it is, on the
  // developer's machine with DO_NOT_TRACK set too, not first in production.
  if (!eager) checkFeatureOptions(options);
  let closed = false;
  const inert = (): boolean => !eager || closed;
  const errors = lazy(options.errors, (o: ErrorTrackingOptions) => createErrorTracker(host, o), eager, inert);
  const performance = lazy(
    options.performance,
    (o: PerformanceOptions) => new PerformanceTracker(host, o),
    eager,
    inert,
  );
  const usage = lazy(options.usage, (o: UsageOptions) => new UsageTracker(host, o), eager, inert);
  // The client's own stats go out through the DeliveryReporter, not the health reporter, so they
  // are reported whether or not the app watches any service.
  const health = lazy(
    options.health,
    (o: HealthReporterOptions) => new HealthReporter(host, o),
    eager,
    inert,
  );
  const reportEvery =
    options.deliveryReport === false
      ? 0
      : deliveryReportInterval(
          options.deliveryReport ??
            (options.health !== false && options.health?.deliveryIntervalMs !== undefined
              ? { intervalMs: options.health.deliveryIntervalMs }
              : undefined),
        );
  // An interval of 0 sends no report on a timer; `sendDeliveryReport()` still sends one, as
  // `0 = off` means for every other feature's interval. Only `deliveryReport: false` removes it.
  const deliveryReporter =
    eager && options.deliveryReport !== false
      ? new DeliveryReporter(host, async () => (await clientStats()) as Record<string, unknown>, reportEvery)
      : undefined;

  const api: TelemetryFeatures = {
    captureError: (error, context) => errors.get()?.captureError(error, context) ?? '',
    addBreadcrumb: (breadcrumb) => errors.get()?.addBreadcrumb(breadcrumb),
    getBreadcrumbs: () => errors.peek()?.getBreadcrumbs() ?? [],
    trackRecovery: (errorId, recovered, details) => errors.get()?.trackRecovery(errorId, recovered, details),
    getErrorGroups: () => errors.peek()?.getErrorGroups() ?? [],
    getErrorStats: () => errors.get()?.getStats(),

    mark: (name) => performance.get()?.mark(name),
    measure: (name, start, end) => performance.get()?.measure(name, start, end),
    timing: (name, valueMs, tags) => performance.get()?.timing(name, valueMs, tags),
    trackOperation: (operation) => performance.get()?.trackOperation(operation),
    getSummary: (name, tags) => performance.peek()?.getSummary(name, tags),

    trackFeature: (id, action, props) => usage.get()?.trackFeature(id, action, props) ?? false,
    startConversation: (id, meta) => usage.get()?.startConversation(id, meta),
    trackMessage: (id, message) => usage.get()?.trackMessage(id, message) ?? false,
    endConversation: (id, outcome) => usage.get()?.endConversation(id, outcome) ?? false,
    trackProviderRequest: (provider, latencyMs, success, tokens) =>
      usage.get()?.trackProviderRequest(provider, latencyMs, success, tokens) ?? false,
    suggestionShown: (id, kind) => usage.get()?.suggestionShown(id, kind) ?? false,
    suggestionAccepted: (id) => usage.get()?.suggestionAccepted(id) ?? false,
    suggestionDismissed: (id) => usage.get()?.suggestionDismissed(id) ?? false,

    registerService(name, check, serviceOptions) {
      const reporter = health.get();
      // A closed reporter refuses with a throw, which after shutdown would land in the app.
      if (reporter === undefined || closed) return { dispose() {} };
      return reporter.registerService(name, check, serviceOptions);
    },
    // After shutdown the checks are not run again: the last report is what there is.
    getHealthReport: async (reportOptions) =>
      health.peek()?.getHealthReport(closed ? undefined : reportOptions),
    isHealthy: () => health.peek()?.isHealthy() ?? true,

    get errors() {
      return errors.get();
    },
    get performance() {
      return performance.get();
    },
    get usage() {
      return usage.get();
    },
    get health() {
      return health.get();
    },
    sendDeliveryReport: async () => (await deliveryReporter?.report()) ?? false,
  };

  return {
    api,
    flush(processEnding = false) {
      try {
        performance.peek()?.flush({ atExit: true });
      } catch (error) {
        host.logger.warn('performance flush failed', { error: String(error) });
      }
      const tracker = errors.peek();
      if (tracker !== undefined) flushPendingDuplicates(tracker);
      if (processEnding) {
        try {
          usage.peek()?.close();
        } catch (error) {
          host.logger.warn('ending the open conversations failed', { error: String(error) });
        }
      }
    },
    async close() {
      closed = true;
      const closing = [errors.peek(), performance.peek(), usage.peek(), health.peek(), deliveryReporter].map(
        async (feature) => {
          try {
            await feature?.close();
          } catch (error) {
            host.logger.warn('a feature failed to close', { error: String(error) });
          }
        },
      );
      await Promise.all(closing);
    },
  };
}

/** What each feature's constructor checks of its options, without making the feature. */
function checkFeatureOptions(options: TelemetryFeatureOptions): void {
  if (options.errors !== undefined && options.errors !== false) resolveErrorTrackingOptions(options.errors);
  if (options.performance !== undefined && options.performance !== false)
    performanceSettings(options.performance);
  if (options.usage !== undefined && options.usage !== false) usageSettings(options.usage);
  if (options.health !== undefined && options.health !== false) checkHealthReporterOptions(options.health);
}
