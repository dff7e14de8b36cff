import type { EndpointSnapshot } from '../delivery/EndpointChannel.js';
import type { ClientDropReason, ClientEventMap, ClientEventName } from '../events.js';
import type { FeatureHost } from '../features/feature.js';
import type { OutboxSize } from '../outbox/outbox.js';
import type { TelemetryFeatures } from './features.js';
import type { ConsentState } from './options.js';

/** What `flush()` answers. */
export interface TelemetryFlushResult {
  /** Events acknowledged by an endpoint during this flush. */
  sent: number;
  /** Events still waiting afterwards (-1 when the storage could not say). */
  pending: number;
  timedOut: boolean;
}

export interface TelemetryStats {
  /** `track()` calls (and `identify()` events) the client received. */
  tracked: number;
  /** Of those, events kept after a repair (name trimmed or cut, properties cut or made JSON-safe). */
  fixed: number;
  /** Events handed to the outbox. */
  queued: number;
  /** Of those, events the outbox confirmed stored (per its durability) by a `persist()` that resolved. */
  persisted: number;
  /** Events acknowledged by an endpoint. */
  sent: number;
  /** Requests that failed (each failure of each endpoint). */
  failedAttempts: number;
  /** Batches given back to the outbox to be tried again. */
  retried: number;
  /** Every drop, by reason: nothing is dropped without being counted here. */
  dropped: Record<ClientDropReason, number>;
  /** What waits in the storage now; null when the storage could not answer. */
  queue: OutboxSize | null;
  /** Breaker state per endpoint id. */
  breakers: Record<string, EndpointSnapshot>;
  lastError: { endpoint: string; reason: string; atMs: number } | null;
  consent: ConsentState;
  /** false for the no-op client (`DO_NOT_TRACK`, `HOMING_DISABLED`, `disabled: true`). */
  enabled: boolean;
}

/**
 * The pipeline part of the client. Only `flush`/`shutdown` (bad timeout) can throw, and
 * `persist()` rejects when the storage cannot store (a full or read-only disk).
 */
export interface TelemetryCore {
  /** Queue an event. Synchronous, never throws, no I/O on the caller's turn. */
  track(event: string, properties?: Record<string, unknown>): void;
  /**
   * From now on events are about `distinctId`, in this run and the next ones on the same storage
   * (until `reset()`); tracks `$identify` (with `$anon_distinct_id`, and `$set` = traits).
   */
  identify(distinctId: string, traits?: Record<string, unknown>): void;
  /**
   * Forgets the identified user (a logout): later events are about the `distinctId` option, or
   * the anonymous install id, in a new session. The id `identify` kept for later runs is removed,
   * and the super properties go back to the `superProperties` option's (what `register` added is dropped).
   */
  reset(): void;
  /** Properties added to every later event (merged over earlier ones). */
  register(superProperties: Record<string, unknown>): void;
  /** Removes one super property (registered, or from the `superProperties` option). */
  unregister(name: string): void;
  /** 'pending' holds events in the storage without sending; 'denied' drops new ones and clears what is held. */
  setConsent(state: ConsentState): void;
  /**
   * Stores everything tracked so far (per the storage's durability). Rejects with the storage's
   * error when it cannot (a full or read-only disk); `stats().lastError` names it too.
   */
  persist(): Promise<void>;
  /** Sends what is pending within `timeoutMs` (default 5 000). */
  flush(options?: { timeoutMs?: number }): Promise<TelemetryFlushResult>;
  /** Flushes within `timeoutMs` (default 5 000), then stops timers and closes the storage it made. Idempotent. */
  shutdown(options?: { timeoutMs?: number }): Promise<void>;
  stats(): Promise<TelemetryStats>;
  on<K extends ClientEventName>(name: K, listener: (payload: ClientEventMap[K]) => void): () => void;
  /** What telemetry features (errors, performance, usage, health) attach to. */
  featureHost(): FeatureHost;
}

/**
 * The client `createTelemetry` returns: the pipeline (`TelemetryCore`) and the telemetry
 * features' calls (`features.ts`). Only `flush`/`shutdown` (bad timeout) and `registerService`
 * (a bad check) can throw.
 */
export interface TelemetryClient extends TelemetryCore, TelemetryFeatures {}

export function emptyDropCounts(): Record<ClientDropReason, number> {
  return {
    overflow: 0,
    retention: 0,
    consent: 0,
    corrupt: 0,
    'dead-lettered': 0,
    'too-large': 0,
    unsaved: 0,
    sampling: 0,
    rejected: 0,
    invalid: 0,
    disabled: 0,
  };
}
