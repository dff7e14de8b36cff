import type { HomingEvent } from '../event.js';
import type { DeliveryOptionsInput, EndpointConfig } from '../delivery/deliveryOptions.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxDurability, OutboxLimits } from '../outbox/outbox.js';
import type { SafeLimits } from '../pipeline/safeSerialize.js';
import type { SamplingOptions } from '../pipeline/sampling.js';
import type { Platform } from '../platform/platform.js';
import type { PatternRedactionOptions } from '../pipeline/redactPatterns.js';
import type { TelemetryFeatureOptions } from './features.js';

export type ConsentState = 'granted' | 'denied' | 'pending';
export type StorageChoice = 'file' | 'indexeddb' | 'localStorage' | 'memory';

/**
 * Tuning of the outbox that `storage` creates. Each key applies to the storages named; the others
 * ignore it (one config can serve Node and browsers). Defaults and ranges are the outbox's own
 * (`outbox/file-log/options.ts`, `outbox/indexeddb/options.ts`); a bad value throws that outbox's
 * `OutboxOptionError`, naming the key.
 */
export interface OutboxTuning {
  /** file, indexeddb, localStorage: longest an appended event waits in memory before it is written (ms); default 100, 0 = next tick. */
  persistIntervalMs?: number;
  /** file, indexeddb, localStorage: a group this large is written at once; default 1 000 (file), 500 (browsers). */
  flushEvents?: number;
  /** file: a group of this many bytes is written at once; default 1 MiB. */
  flushBytes?: number;
  /** file: a segment file is sealed and a new one started past this size; default 8 MiB. */
  maxSegmentBytes?: number;
  /** file: how often the delivery lock's heartbeat is refreshed (ms); default 2 000. */
  heartbeatMs?: number;
  /** file: a lock or segment of a process silent this long is taken over (ms); default 30 000, at least 3 × heartbeatMs. */
  staleMs?: number;
  /** file: event JSON kept in memory after writing, so delivery claims it without reading it back; default 1 MiB. */
  claimCacheBytes?: number;
  /** indexeddb, localStorage: delivery lease where the Web Locks API is missing (ms); default 15 000. */
  leaseMs?: number;
  /** indexeddb, localStorage: write what is buffered when the page is hidden or unloads; default true. */
  flushOnHide?: boolean;
}

/** Every key of `OutboxTuning`, for validation. */
export const OUTBOX_TUNING_KEYS: readonly (keyof OutboxTuning)[] = [
  'persistIntervalMs',
  'flushEvents',
  'flushBytes',
  'maxSegmentBytes',
  'heartbeatMs',
  'staleMs',
  'claimCacheBytes',
  'leaseMs',
  'flushOnHide',
];

/**
 * What `beforeSend` may answer: the event to store (the same object changed, or a new one), or
 * `null`/`false` to drop it (counted as 'rejected'). A throwing `beforeSend` drops that event too.
 */
export type BeforeSend = (event: HomingEvent) => HomingEvent | null | false | undefined;

export interface RedactionOptions {
  /** Field names whose values are replaced wherever nested; `false` turns it off. Default: `DEFAULT_REDACTED_FIELDS`. */
  fields?: readonly string[] | false;
  /** Pattern redaction inside string values (emails, cards, SSN, phones, IPs, JWT, keys); `false` turns it off. Default on. */
  patterns?: PatternRedactionOptions | false;
  /** Replace redacted field values with a stable keyed hash instead of `[REDACTED]` (pseudonymous, not anonymous). */
  hashKey?: string;
  /** Runs last, on the properties after the built-in passes; answers the properties to keep. A throw drops the event. */
  custom?: (properties: Record<string, unknown>) => Record<string, unknown>;
}

export interface TelemetryOptions extends TelemetryFeatureOptions {
  /** Where events go (at least one): `{ destination: 'homing' | 'posthog' | 'segment', host, key }` or `{ destination: 'custom', send }`. */
  endpoints: EndpointConfig[];
  /** Batching, retry, breaker, gzip, exit flush: see `DeliveryOptionsInput`. Defaults there. */
  delivery?: Omit<DeliveryOptionsInput, 'endpoints'>;
  /**
   * Separates the outboxes, install ids and remembered consent of different apps on one machine
   * or origin. Default: `default-` and a hash of the endpoints (`defaultClientName`), `'default'`
   * when all are custom.
   */
  name?: string;
  /** Who the events are about; default a stable anonymous install id kept in the storage. */
  distinctId?: string;
  /** Added to every event's properties (the event's own properties win). */
  superProperties?: Record<string, unknown>;
  /** Consent at start. Default `'granted'`. A state set with `setConsent` before is remembered and wins. */
  consent?: ConsentState;
  /** Keep `setConsent` choices in the storage across runs, and follow the one stored there. Default true. `false`: neither written nor read (a denial stored earlier included): `consent` and this client's `setConsent` calls alone decide. */
  rememberConsent?: boolean;
  /** `$session_id` rotates after this long without an event. Default 30 minutes; 0: every event. */
  sessionIdleMs?: number;
  sampling?: SamplingOptions;
  /** Default: field names and patterns, `[REDACTED]`. `false` turns all redaction off. */
  redaction?: RedactionOptions | false;
  beforeSend?: BeforeSend;
  /** Default: `'file'` on Node (user's cache dir), `'indexeddb'` in browsers, `'memory'` elsewhere. An `Outbox` is used as is (and not closed by `shutdown`). */
  storage?: StorageChoice | Outbox;
  /** File storage: the outbox directory. Default `<user cache>/homing/<name>`. */
  directory?: string;
  /** File storage: `'batch'` (default), `'fsync'` or `'memory'`; see the outbox README. */
  durability?: OutboxDurability;
  /** Outbox bounds and retention (events, bytes, overflow policy, retention). Defaults: `DEFAULT_OUTBOX_LIMITS`. */
  limits?: Partial<OutboxLimits>;
  /** Write timing and file-outbox details (`persistIntervalMs`, `flushEvents`, …): see `OutboxTuning`. Not with an `Outbox` as `storage`. */
  outbox?: OutboxTuning;
  /** Depth, string length and key count kept of properties. Defaults: `defaultSafeLimits`. */
  propertyLimits?: Partial<SafeLimits>;
  /** An event whose JSON is larger is dropped ('too-large'). Default 512 KiB, the delivery batch size. */
  maxEventBytes?: number;
  /** Turn the client into a no-op. Default false; `HOMING_DISABLED=1` does it too. */
  disabled?: boolean;
  /** Honour `DO_NOT_TRACK=1` in the environment. Default true. */
  respectDoNotTrack?: boolean;
  /** Where debug output goes. Default silent; `HOMING_DEBUG=1` gives a console logger. */
  logger?: Logger;
  /** The platform adapter. Default: the one this entry point picks (Node, browser or generic). */
  platform?: Platform;
  /**
   * Clock (ms since the epoch) for timestamps, sessions and sampling windows, and for the age
   * (retention) of events in the file or memory outbox the client makes. Default `Date.now`.
   */
  now?: () => number;
}

/** Every default, in one place. */
export const TELEMETRY_DEFAULTS = Object.freeze({
  name: 'default',
  consent: 'granted' as ConsentState,
  rememberConsent: true,
  sessionIdleMs: 30 * 60 * 1000,
  maxEventBytes: 512 * 1024,
  disabled: false,
  respectDoNotTrack: true,
  durability: 'batch' as OutboxDurability,
  /** Budget of `flush()` and `shutdown()` when no `timeoutMs` is given. */
  timeoutMs: 5_000,
});
