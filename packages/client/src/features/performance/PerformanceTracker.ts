import type { Feature, FeatureHost } from '../feature.js';
import { hostClock } from '../hostClock.js';
import { PerformanceOptionError } from './errors.js';
import { RELATIVE_ERROR } from './LogLinearHistogram.js';
import type { HistogramSummary } from './LogLinearHistogram.js';
import { MetricRegistry, tagKey } from './MetricRegistry.js';
import type { RejectReason, Series, Tags } from './MetricRegistry.js';
import { performanceSettings } from './performanceOptions.js';
import type { PerformanceOptions, PerformanceSettings } from './performanceOptions.js';
import { autoRuntimeMetrics } from './runtimeMetrics.js';
import type { RuntimeMetricsContext, RuntimeMetricsSource } from './runtimeMetrics.js';
import { checkHost } from './validateOption.js';

/** Design 003's AI operation: a name, its duration and any named numbers (tokens, bytes, phases). */
export interface OperationTiming {
  name: string;
  durationMs?: number;
  /** Labels for every number of this operation (model, route, ...): same rules as `timing` tags. */
  tags?: Tags;
  [field: string]: unknown;
}

export type MetricSummary = HistogramSummary;

export interface PerformanceStats {
  /** Measurements recorded (into a series or an overflow series). */
  recorded: number;
  /** Measurements refused, by reason: bad name, bad value (NaN, negative, infinite, too large), bad tags, unknown mark, non-numeric operation field. */
  rejected: Record<RejectReason, number>;
  /** Measurements filed under an overflow series because a name or tag-set budget was spent. */
  overflowed: number;
  /** Summary flushes done. */
  flushes: number;
  /** `$metric_summary` events sent. */
  summariesSent: number;
}

export interface PerformanceMemoryUsage {
  metrics: number;
  series: number;
  /** Bytes held by the histograms and their bookkeeping (an estimate of the object overhead). */
  bytes: number;
  /** The most it can ever hold with these options. */
  maxBytes: number;
}

/** Operation fields that are not numbers to aggregate. */
const OPERATION_META = new Set(['name', 'durationMs', 'tags']);

/**
 * Performance metrics for one client: marks and measures, timings, operations, each aggregated
 * in a bounded histogram per series and sent as one `$metric_summary` event per series per
 * flush interval (not one event per measurement), plus platform metrics (web vitals, Node event
 * loop and memory) as `$performance` events. Measurements never throw: bad input is counted.
 */
export class PerformanceTracker implements Feature {
  readonly #host: FeatureHost;
  /** The host's clock, never throwing nor answering what is no time (see hostClock). */
  readonly #now: () => number;
  readonly #settings: PerformanceSettings;
  /**
   * `settings.rawEvents`, kept on the tracker: `timing` runs once per request of an instrumented
   * server, where each further object it reads is likely out of the CPU's caches (see
   * `MetricRegistry.record`).
   */
  readonly #rawEvents: boolean;
  readonly #registry: MetricRegistry;
  readonly #marks = new Map<string, number>();
  readonly #timer: ReturnType<typeof setInterval> | undefined;
  readonly #runtime: Promise<RuntimeMetricsSource | undefined>;
  #runtimeSource: RuntimeMetricsSource | undefined;
  #intervalStart: number;
  #closed = false;
  #flushes = 0;
  /** The last flush was an exit flush: one that finds no new data then sends nothing at all. */
  #lastFlushAtExit = false;
  #summariesSent = 0;

  constructor(host: FeatureHost, options: PerformanceOptions = {}) {
    checkHost(host, (option, reason) => new PerformanceOptionError(option, reason));
    this.#host = host;
    this.#now = hostClock(host, (problem) => this.#internalError('host.now', problem));
    this.#settings = performanceSettings(options);
    this.#rawEvents = this.#settings.rawEvents;
    this.#registry = new MetricRegistry(this.#settings);
    this.#registry.onFirstReject = (reason, detail) =>
      host.logger.debug(`performance: measurement rejected (${reason}); further ones are only counted`, {
        detail,
      });
    this.#intervalStart = this.#now();
    if (this.#settings.flushIntervalMs > 0) {
      // flush() never throws: an exception here would be an uncaught one, and end the process.
      this.#timer = setInterval(() => this.flush(), this.#settings.flushIntervalMs);
      (this.#timer as any).unref?.();
    }
    this.#runtime = this.#startRuntime();
  }

  /** Notes the time now under `name`; answers it (ms on the tracker's clock), or undefined for a bad name. */
  mark(name: string): number | undefined {
    if (this.#closed) return undefined;
    if (typeof name !== 'string' || name.length === 0 || name.length > this.#settings.maxNameLength) {
      this.#registry.reject('name', 'mark name must be a non-empty string');
      return undefined;
    }
    let at: number;
    try {
      at = this.#settings.clock();
    } catch (error) {
      // The clock is the app's (an option): its failure costs this mark, not the app's call.
      this.#internalError('mark', error);
      return undefined;
    }
    // Re-inserted so the Map's order is oldest first, and the oldest is what goes past maxMarks.
    this.#marks.delete(name);
    if (this.#marks.size >= this.#settings.maxMarks) this.#marks.delete(this.#marks.keys().next().value!);
    this.#marks.set(name, at);
    return at;
  }

  /**
   * Records the time from `startMark` to `endMark` (or to now) under `name` and answers it in ms;
   * undefined when a mark is unknown or the end is before the start.
   */
  measure(name: string, startMark: string, endMark?: string): number | undefined {
    if (this.#closed) return undefined;
    try {
      const start = this.#marks.get(startMark);
      const end = endMark === undefined ? this.#settings.clock() : this.#marks.get(endMark);
      if (start === undefined || end === undefined) {
        this.#registry.reject(
          'mark',
          `unknown mark ${describeMark(start === undefined ? startMark : endMark)}`,
        );
        return undefined;
      }
      const duration = end - start;
      return this.#record(name, duration, undefined, 'ms') === undefined ? undefined : duration;
    } catch (error) {
      // A mark name that cannot even be turned into text (a revoked Proxy, an object without a
      // prototype): counted like any internal failure, never thrown into the app.
      this.#internalError('measure', error);
      return undefined;
    }
  }

  /** Records one duration in ms. The hot path: no allocation once the series exists. */
  timing(name: string, valueMs: number, tags?: Tags): void {
    if (this.#closed) return;
    try {
      const series = this.#registry.record(name, valueMs, tags, 'ms');
      if (series !== undefined && this.#rawEvents) this.#sendRaw(series, valueMs);
    } catch (error) {
      this.#internalError('timing', error);
    }
  }

  /**
   * Records an operation: `durationMs` under `name`, and every other numeric field under
   * `name.field` (e.g. `ai.tokens`), each aggregated on its own. Non-numeric fields other than
   * `tags` are rejected (counted); use `tags` for labels.
   */
  trackOperation(operation: OperationTiming): void {
    if (this.#closed) return;
    try {
      const copy = this.#readOperation(operation);
      if (copy === undefined) return;
      const { name, durationMs, tags, fields } = copy;
      if (durationMs !== undefined) this.#record(name, durationMs, tags, 'ms');
      for (const [field, value] of fields) {
        if (typeof value !== 'number') {
          this.#registry.reject('field', `operation field ${field} is not a number`);
          continue;
        }
        this.#record(`${name}.${field}`, value, tags, field.endsWith('Ms') ? 'ms' : undefined);
      }
    } catch (error) {
      this.#internalError('trackOperation', error);
    }
  }

  /**
   * Everything `trackOperation` needs, read once before anything is recorded, so a getter or
   * Proxy trap that throws rejects the whole operation (counted as a bad field, or bad tags)
   * instead of leaving some of its numbers recorded. Valid tags are copied to a plain object.
   */
  #readOperation(
    operation: unknown,
  ): { name: string; durationMs: unknown; tags: unknown; fields: [string, unknown][] } | undefined {
    let name: unknown;
    let durationMs: unknown;
    let tags: unknown;
    const fields: [string, unknown][] = [];
    try {
      if (operation === null || typeof operation !== 'object') name = undefined;
      else {
        const op = operation as Record<string, unknown>;
        name = op['name'];
        durationMs = op['durationMs'];
        tags = op['tags'];
        for (const field of Object.keys(op)) {
          if (OPERATION_META.has(field)) continue;
          const value = op[field];
          if (value !== undefined) fields.push([field, value]);
        }
      }
    } catch {
      this.#registry.reject('field', 'the operation could not be read (a getter or Proxy trap threw)');
      return undefined;
    }
    if (typeof name !== 'string') {
      this.#registry.reject('name', 'an operation needs a string name');
      return undefined;
    }
    if (tags !== undefined) {
      let normal: ReturnType<typeof tagKey>;
      try {
        normal = tagKey(tags, this.#settings);
      } catch {
        this.#registry.reject('tags', 'tags could not be read (a getter or Proxy trap threw)');
        return undefined;
      }
      // Bad tags stay as given: each number is then rejected as bad tags, as before.
      if (normal !== undefined) tags = normal.tags;
    }
    return { name, durationMs, tags, fields };
  }

  /**
   * count, min, max, mean and p50/p90/p95/p99 (within 0.79 %) of `name` since start (every tag set
   * merged, or the one given); undefined when nothing was recorded under it.
   */
  getSummary(name: string, tags?: Tags): MetricSummary | undefined {
    try {
      return this.#registry.summaryOf(name, tags);
    } catch (error) {
      this.#internalError('getSummary', error);
      return undefined;
    }
  }

  /** The platform's latest figures: web vitals in a page, heap and RSS in Node; {} before they load. */
  getRuntimeMetrics(): Record<string, unknown> {
    try {
      const snapshot = this.#runtimeSource?.snapshot?.();
      return typeof snapshot === 'object' && snapshot !== null ? snapshot : {};
    } catch (error) {
      // The source may be the app's own factory: its failure is not the caller's.
      this.#internalError('getRuntimeMetrics', error);
      return {};
    }
  }

  getMemoryUsage(): PerformanceMemoryUsage {
    return this.#registry.memory();
  }

  getStats(): PerformanceStats {
    const r = this.#registry;
    return {
      recorded: r.recorded,
      rejected: { ...r.rejected },
      overflowed: r.overflowed,
      flushes: this.#flushes,
      summariesSent: this.#summariesSent,
    };
  }

  /**
   * Sends one `$metric_summary` per series that saw data since the last flush, and resets them,
   * and a runtime snapshot. `atExit` (the host's `beforeExit`): a flush that follows another
   * exit flush and finds no new data sends nothing, not even the snapshot. Each event sent there
   * is stored, which is I/O, after which Node emits `beforeExit` again: a snapshot every time
   * kept the process alive for ever. Never throws: the flush timer calls it, where an exception
   * would end the process.
   */
  flush(options: { atExit?: boolean } = {}): void {
    try {
      this.#flush(options.atExit === true);
    } catch (error) {
      this.#internalError('flush', error);
    }
  }

  #flush(atExit: boolean): void {
    const quietRepeat = atExit && this.#lastFlushAtExit;
    this.#lastFlushAtExit = atExit;
    const now = this.#now();
    const intervalMs = Math.max(0, now - this.#intervalStart);
    const intervalStart = new Date(this.#intervalStart).toISOString();
    this.#intervalStart = now;
    this.#flushes++;
    let summaries = 0;
    for (const { series, summary, collapsedBelow, histogram } of this.#registry.collect()) {
      this.#track('$metric_summary', {
        metric: series.metric,
        ...(series.tags === undefined ? {} : { tags: series.tags }),
        ...(series.unit === undefined ? {} : { unit: series.unit }),
        ...summary,
        interval_start: intervalStart,
        interval_ms: intervalMs,
        relative_error: RELATIVE_ERROR,
        ...(collapsedBelow > 0 ? { collapsed_below: collapsedBelow } : {}),
        ...(histogram === undefined ? {} : { histogram }),
      });
      this.#summariesSent++;
      summaries++;
    }
    if (quietRepeat && summaries === 0) return;
    let runtime: Record<string, unknown> | undefined;
    try {
      const collected = this.#runtimeSource?.collect?.();
      // Spread here, inside the guard: a Proxy's traps run then.
      if (collected !== undefined) runtime = { $kind: 'runtime', ...collected, interval_ms: intervalMs };
    } catch (error) {
      // A factory of the app's: its failure costs this snapshot, never the summaries sent above.
      this.#internalError('runtime collect()', error);
    }
    if (runtime !== undefined) this.#track('$performance', runtime);
  }

  /** Sends what is left, stops the timer and the platform metrics. Later measurements are ignored. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.flush();
    this.#closed = true;
    const source = await this.#runtime;
    this.#runtimeSource = undefined;
    try {
      source?.close();
    } catch (error) {
      this.#internalError('runtime close()', error);
    }
  }

  #record(name: string, value: unknown, tags: unknown, unit: string | undefined): Series | undefined {
    const series = this.#registry.record(name, value, tags, unit);
    if (series !== undefined && this.#rawEvents) this.#sendRaw(series, value as number);
    return series;
  }

  #sendRaw(series: Series, value: number): void {
    this.#track('$performance', {
      $kind: 'measurement',
      metric: series.metric,
      value,
      ...(series.tags === undefined ? {} : { tags: series.tags }),
      ...(series.unit === undefined ? {} : { unit: series.unit }),
    });
  }

  /** A bug of ours (or of the host's logger) must not reach the app: logged once per call. */
  #internalError(method: string, error: unknown): void {
    try {
      this.#host.logger.debug(`performance: ${method} failed inside Homing`, { error: String(error) });
    } catch {}
  }

  #track(event: string, properties: Record<string, unknown>): void {
    try {
      this.#host.track(event, properties);
    } catch (error) {
      // The host promises not to throw; if it does, telemetry must still not break the app.
      try {
        this.#host.logger.debug('performance: host.track threw', { error: String(error) });
      } catch {}
    }
  }

  async #startRuntime(): Promise<RuntimeMetricsSource | undefined> {
    const runtime = this.#settings.runtime;
    if (runtime === 'off') return undefined;
    const context: RuntimeMetricsContext = {
      report: (kind, properties) => {
        if (!this.#closed) this.#track('$performance', { $kind: kind, ...properties });
      },
      sampleIntervalMs: this.#settings.runtimeSampleIntervalMs,
      logger: this.#host.logger,
    };
    try {
      const source = await (runtime === 'auto' ? autoRuntimeMetrics(context) : runtime(context));
      if (this.#closed) {
        source.close();
        return undefined;
      }
      this.#runtimeSource = source;
      return source;
    } catch (error) {
      try {
        this.#host.logger.debug('performance: platform metrics unavailable', { error: String(error) });
      } catch {}
      return undefined;
    }
  }
}

/** Creates a performance tracker over a feature host; throws a PerformanceOptionError for bad options. */
export function createPerformanceTracker(
  host: FeatureHost,
  options?: PerformanceOptions,
): PerformanceTracker {
  return new PerformanceTracker(host, options);
}

/** A mark name for a rejection reason; text for anything, even what `String()` throws on. */
function describeMark(mark: unknown): string {
  try {
    return String(mark);
  } catch {
    return `(${typeof mark})`;
  }
}
