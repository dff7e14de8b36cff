/**
 * `@homing/client/integrations`: Express, Fastify and fetch integrations. They depend only on the
 * structural `TelemetryLike` (no runtime import of Express, Fastify or the client), so importing
 * this entry costs nothing for apps that use none of them. React lives in `@homing/react`.
 */
export type { FetchTelemetry, HttpServerTelemetry, TelemetryLike } from './telemetryLike.js';
export { IntegrationOptionError } from './errors.js';
export type { IntegrationErrorKind } from './errors.js';
export { HTTP_SERVER_DEFAULTS } from './httpServerOptions.js';
export type { HttpCaptureOptions, HttpTimingOptions } from './httpServerOptions.js';
export type { StatusTagMode } from './httpTags.js';
export { ABORTED_STATUS, homingExpress, homingExpressErrorHandler } from './express.js';
export { instrumentExpress } from './instrumentExpress.js';
export type {
  ExpressAppLike,
  ExpressInstrumentation,
  InstrumentExpressOptions,
} from './instrumentExpress.js';
export { UNMATCHED_ROUTE } from './httpTags.js';
export type {
  ExpressNext,
  ExpressRequestLike,
  ExpressResponseLike,
  HomingExpressErrorHandlerOptions,
  HomingExpressOptions,
} from './express.js';
export { homingFastify } from './fastify.js';
export type {
  FastifyInstanceLike,
  FastifyReplyLike,
  FastifyRequestLike,
  HomingFastifyOptions,
} from './fastify.js';
export { wrapFetch, WRAP_FETCH_DEFAULTS } from './fetch.js';
export type { FetchFailureKind, FetchFunction, FetchRequestSummary, WrapFetchOptions } from './fetch.js';
