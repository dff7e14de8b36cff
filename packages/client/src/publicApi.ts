/**
 * Everything public and browser-safe, shared by both entry points (`index.ts` for browsers and
 * other runtimes, `index.node.ts` for Node). Nothing here may import `node:*`.
 */
export type { TelemetryClient, TelemetryFlushResult, TelemetryStats } from './telemetry/client.js';
export type {
  BeforeSend,
  ConsentState,
  OutboxTuning,
  RedactionOptions,
  StorageChoice,
  TelemetryOptions,
} from './telemetry/options.js';
export { TELEMETRY_DEFAULTS } from './telemetry/options.js';
export { TelemetryError, TelemetryOptionError } from './telemetry/errors.js';
export type { TelemetryErrorKind } from './telemetry/errors.js';
export { LIB_NAME, LIB_VERSION } from './telemetry/version.js';
export { INSTALL_ID_STATE_KEY } from './telemetry/installId.js';
export { CONSENT_STATE_KEY } from './telemetry/Telemetry.js';
export { CONSENT_HOLD_STATE_KEY, parseConsentHold } from './telemetry/ConsentHold.js';
export type { ConsentHoldValue } from './telemetry/ConsentHold.js';

export type { HomingEvent } from './event.js';
export type { ClientDropReason, ClientEventMap, ClientEventName } from './events.js';
export { consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export type { Feature, FeatureHost } from './features/feature.js';

export * from './outbox/index.js';
export * from './delivery/index.js';

export type { DefaultOutboxOptions, Platform } from './platform/platform.js';
export type { JsonParts, RequestBody } from './platform/jsonParts.js';
export { bodyText } from './platform/jsonParts.js';
export { createBrowserPlatform, UNLOAD_CONTENT_TYPE } from './platform/browser.js';
export type { BrowserGlobals, BrowserOutboxFactories, BrowserPlatformOptions } from './platform/browser.js';
export { createGenericPlatform } from './platform/generic.js';

export { uuidv7 } from './pipeline/uuidv7.js';
export { defaultSafeLimits, safeClone } from './pipeline/safeSerialize.js';
export type { SafeLimits, SafeResult } from './pipeline/safeSerialize.js';
export { Sampler, SamplingOptionError } from './pipeline/sampling.js';
export type { SamplingDecision, SamplingOptions } from './pipeline/sampling.js';
export { DEFAULT_REDACTED_FIELDS, REDACTED } from './pipeline/redactFields.js';
export { keyedHash } from './pipeline/redactHash.js';
export { checkEventName, MAX_EVENT_NAME_LENGTH } from './pipeline/eventName.js';
export {
  createPatternRedactor,
  DEFAULT_PATTERN_REDACTION,
  PatternRedactionOptionError,
  PII_PATTERN_NAMES,
} from './pipeline/redactPatterns.js';
export type { CustomPiiPattern, PatternRedactionOptions, PiiPatternName } from './pipeline/redactPatterns.js';

export { createBrowserOutbox } from './outbox/browser.js';
export type { BrowserOutboxOptions, BrowserStorage } from './outbox/browser.js';
export { createIndexedDBOutbox, IndexedDBOutbox } from './outbox/indexeddb.js';
export type { IndexedDBOutboxOptions } from './outbox/indexeddb.js';
export { createLocalStorageOutbox, LocalStorageOutbox } from './outbox/localStorage.js';
export type { LocalStorageOutboxOptions, StorageLike } from './outbox/localStorage.js';

export type { TelemetryCore } from './telemetry/client.js';
export type { FeatureSet, TelemetryFeatureOptions, TelemetryFeatures } from './telemetry/features.js';
export * from './features/errors/index.js';
export * from './features/performance/index.js';
export * from './features/usage/index.js';
export * from './features/health/index.js';
