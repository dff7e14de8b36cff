/** Performance metrics: timings, marks and measures, operations, web vitals and Node runtime figures. */
export { createPerformanceTracker, PerformanceTracker } from './PerformanceTracker.js';
export type {
  MetricSummary,
  OperationTiming,
  PerformanceMemoryUsage,
  PerformanceStats,
} from './PerformanceTracker.js';
export { PERFORMANCE_DEFAULTS } from './performanceOptions.js';
export type { PerformanceOptions } from './performanceOptions.js';
export { PerformanceOptionError } from './errors.js';
export { LogLinearHistogram, RELATIVE_ERROR } from './LogLinearHistogram.js';
export type { HistogramSummary, SparseHistogram } from './LogLinearHistogram.js';
export { OVERFLOW_METRIC } from './MetricRegistry.js';
export type { Tags } from './MetricRegistry.js';
export { autoRuntimeMetrics, runtimeName } from './runtimeMetrics.js';
export type { RuntimeMetricsContext, RuntimeMetricsFactory, RuntimeMetricsSource } from './runtimeMetrics.js';
export { nodeRuntimeMetrics } from './nodeRuntimeMetrics.js';
export type { NodeRuntimeOptions } from './nodeRuntimeMetrics.js';
export { WEB_VITALS, webVitalsMetrics } from './webVitalsMetrics.js';
export type { WebVitalName, WebVitalsModule, WebVitalsOptions } from './webVitalsMetrics.js';
