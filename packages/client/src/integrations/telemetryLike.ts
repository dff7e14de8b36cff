import type { BreadcrumbInput, CaptureContext } from '../features/errors/types.js';
import type { Tags } from '../features/performance/MetricRegistry.js';

/**
 * What the integrations need from telemetry: the signatures of the error tracker's
 * `captureError` / `addBreadcrumb`, the performance tracker's `timing` and the client's `track`.
 * Structural on purpose: the integrations work with the client once it has these methods, with
 * a hand-made object that forwards to the trackers (`createErrorTracker`,
 * `createPerformanceTracker`), or with a test fake; nothing here imports the client.
 * Each integration asks only for the methods it calls (see `HttpServerTelemetry`, `FetchTelemetry`).
 */
export interface TelemetryLike {
  /** Records an error; answers its id (undefined when the implementation has none). */
  captureError(error: unknown, context?: CaptureContext): string | undefined;
  addBreadcrumb(breadcrumb: BreadcrumbInput): void;
  /** Records one duration in ms into the metric's histogram. */
  timing(name: string, valueMs: number, tags?: Tags): void;
  track(event: string, properties?: Record<string, unknown>): void;
}

/** Express and Fastify: request timings and captured errors. */
export type HttpServerTelemetry = Pick<TelemetryLike, 'timing' | 'captureError'>;

/** The fetch wrapper: a breadcrumb and a timing per request. */
export type FetchTelemetry = Pick<TelemetryLike, 'timing' | 'addBreadcrumb'>;

export type { BreadcrumbInput, CaptureContext, Tags };
