import { describeValue } from '../../describeValue.js';
import { PerformanceOptionError } from './errors.js';
import type { RuntimeMetricsFactory } from './runtimeMetrics.js';
import {
  checkBoolean,
  checkFunction,
  checkIntervalOrOff,
  checkInteger,
  checkOptionsObject,
  checkPositiveMs,
  rejectUnknownOptions,
} from './validateOption.js';

export interface PerformanceOptions {
  /** How often summaries are sent and the interval histograms reset. Default 60 000 ms; 0 = only on `flush()`/`close()`. */
  flushIntervalMs?: number;
  /** Also send one `$performance` event per measurement (a hot loop then fills the outbox). Default false. */
  rawEvents?: boolean;
  /** Keep a since-start histogram per series for `getSummary` (doubles the memory). Default true. */
  lifetimeSummaries?: boolean;
  /** Attach each summary's sparse histogram (`[key, count]` bins) so a server can merge them exactly. Default false. */
  includeHistogram?: boolean;
  /** Distinct metric names kept; new names past it are counted under `$overflow`. Default 100. */
  maxMetrics?: number;
  /** Tag sets kept per metric; more go to that metric's `{ $overflow: 'true' }` series. Default 20. */
  maxSeriesPerMetric?: number;
  /** Series kept in all. Default 100. */
  maxSeries?: number;
  /** Buckets per histogram (8 bytes each; 64 per power of two). Default 1024: 16 octaves at full accuracy. */
  maxBins?: number;
  /** Longest metric name, tag key or tag value accepted. Default 200. */
  maxNameLength?: number;
  /** Most tags in one set. Default 8. */
  maxTags?: number;
  /** Marks kept; the oldest is forgotten past it. Default 1000. */
  maxMarks?: number;
  /**
   * Platform metrics: 'auto' (web vitals in a browser, event loop / heap / RSS in Node, each
   * loaded lazily), 'off', or a factory of your own. Default 'auto'.
   */
  runtime?: 'auto' | 'off' | RuntimeMetricsFactory;
  /** How often Node's heap and RSS are sampled. Default 10 000 ms. */
  runtimeSampleIntervalMs?: number;
  /** Monotonic clock in ms for marks. Default `performance.now()`. */
  clock?: () => number;
}

export interface PerformanceSettings {
  flushIntervalMs: number;
  rawEvents: boolean;
  lifetimeSummaries: boolean;
  includeHistogram: boolean;
  maxMetrics: number;
  maxSeriesPerMetric: number;
  maxSeries: number;
  maxBins: number;
  maxNameLength: number;
  maxTags: number;
  maxMarks: number;
  runtime: 'auto' | 'off' | RuntimeMetricsFactory;
  runtimeSampleIntervalMs: number;
  clock: () => number;
}

export const PERFORMANCE_DEFAULTS = {
  flushIntervalMs: 60_000,
  rawEvents: false,
  lifetimeSummaries: true,
  includeHistogram: false,
  maxMetrics: 100,
  maxSeriesPerMetric: 20,
  maxSeries: 100,
  maxBins: 1024,
  maxNameLength: 200,
  maxTags: 8,
  maxMarks: 1000,
  runtime: 'auto',
  runtimeSampleIntervalMs: 10_000,
} as const;

const KNOWN = [...Object.keys(PERFORMANCE_DEFAULTS), 'clock'];
const fail = (option: string, reason: string): Error => new PerformanceOptionError(option, reason);

/** Merges options over the defaults once and validates them. */
export function performanceSettings(options: PerformanceOptions = {}): PerformanceSettings {
  checkOptionsObject(options, fail);
  rejectUnknownOptions(options, KNOWN, fail);
  const d = PERFORMANCE_DEFAULTS;
  const runtime = options.runtime ?? d.runtime;
  if (runtime !== 'auto' && runtime !== 'off' && typeof runtime !== 'function') {
    throw fail('runtime', `must be 'auto', 'off' or a factory function, got ${describeValue(runtime)}`);
  }
  const maxSeries = checkInteger(options.maxSeries ?? d.maxSeries, 'maxSeries', 1, 100_000, fail);
  return {
    flushIntervalMs: checkIntervalOrOff(
      options.flushIntervalMs ?? d.flushIntervalMs,
      'flushIntervalMs',
      fail,
    ),
    rawEvents: checkBoolean(options.rawEvents ?? d.rawEvents, 'rawEvents', fail),
    lifetimeSummaries: checkBoolean(
      options.lifetimeSummaries ?? d.lifetimeSummaries,
      'lifetimeSummaries',
      fail,
    ),
    includeHistogram: checkBoolean(options.includeHistogram ?? d.includeHistogram, 'includeHistogram', fail),
    maxMetrics: checkInteger(options.maxMetrics ?? d.maxMetrics, 'maxMetrics', 1, 100_000, fail),
    maxSeriesPerMetric: checkInteger(
      options.maxSeriesPerMetric ?? d.maxSeriesPerMetric,
      'maxSeriesPerMetric',
      1,
      maxSeries,
      fail,
    ),
    maxSeries,
    maxBins: checkInteger(options.maxBins ?? d.maxBins, 'maxBins', 64, 131_072, fail),
    maxNameLength: checkInteger(options.maxNameLength ?? d.maxNameLength, 'maxNameLength', 1, 10_000, fail),
    maxTags: checkInteger(options.maxTags ?? d.maxTags, 'maxTags', 0, 64, fail),
    maxMarks: checkInteger(options.maxMarks ?? d.maxMarks, 'maxMarks', 1, 1_000_000, fail),
    runtime,
    runtimeSampleIntervalMs: checkPositiveMs(
      options.runtimeSampleIntervalMs ?? d.runtimeSampleIntervalMs,
      'runtimeSampleIntervalMs',
      fail,
    ),
    clock:
      options.clock === undefined
        ? () => globalThis.performance.now()
        : checkFunction<() => number>(options.clock, 'clock', fail),
  };
}
