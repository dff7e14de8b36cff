export * from './store/index.js';
export { buildServer } from './app.js';
export {
  SERVER_DEFAULTS,
  ServerOptionsError,
  LISTEN_DEFAULTS,
  MAX_BATCH_EVENTS,
  MAX_KEEP_ALIVE_TIMEOUT_MS,
  MAX_TIMER_MS,
  resolveServerOptions,
  type RateLimitOptions,
  type ServerOptions,
} from './serverOptions.js';
export {
  startServer,
  ServerStartError,
  type ServerStartErrorKind,
  type StartServerOptions,
  type RunningServer,
} from './startServer.js';
export { ensureDefaultProject, DEFAULT_PROJECT_NAME } from './defaultProject.js';
export { shutdownOnSignals } from './shutdownOnSignals.js';
export { IngestError, type IngestErrorKind } from './ingest/errors.js';
export type { IngestAnswer, RejectedEvent, WireFormat } from './ingest/ingestBatch.js';
export {
  startRetentionJob,
  RETENTION_DEFAULTS,
  RetentionOptionError,
  type RetentionJob,
  type RetentionJobOptions,
} from './retention/retentionJob.js';
