import type { HomingEvent } from '../event.js';
import type { ClientDropReason } from '../events.js';
import { silentLogger } from '../logger.js';
import type { OutboxRecord } from '../outbox/outbox.js';
import { MAX_UUID_BYTES, utf8LengthOver } from '../outbox/records.js';
import { checkEventName, MAX_EVENT_NAME_LENGTH } from '../pipeline/eventName.js';
import { REDACTED } from '../pipeline/redactFields.js';
import type { SafeLimits } from '../pipeline/safeSerialize.js';
import { safeClone } from '../pipeline/safeSerialize.js';
import type { Sampler } from '../pipeline/sampling.js';
import { ASYNC_HOOK, isAsyncAnswer } from '../pipeline/syncHook.js';
import type { BeforeSend } from './options.js';
import type { Redactor } from './redactor.js';
import { RunningHook } from './RunningHook.js';
import { LIB_NAME, LIB_VERSION } from './version.js';

/** An event that went through `track()`'s synchronous checks, waiting for the rest of the pipeline. */
export interface TrackedEvent {
  readonly uuid: string;
  readonly name: string;
  /**
   * Plain JSON data, no cycles: a safe clone of the app's properties, or the app's own object
   * when it already was such data and nothing in the pipeline writes to it (`TrackedEvents.readsInPlace`).
   */
  readonly properties: Record<string, unknown>;
  /**
   * true: `properties` is the app's own object, vouched for by `isPlainJsonData` (no key the
   * field pass replaces, none of ENRICHED_KEYS), so only `redactInPlace` runs on it.
   */
  readonly inPlace?: boolean;
  /**
   * true (with `inPlace`): the same walk found every string clean by `redactInPlace.isClean`,
   * so the pattern pass would return the properties as they are and is skipped.
   */
  readonly clean?: boolean;
  /**
   * true: the properties' JSON is over `maxEventBytes` (`safeClone` stopped there and says so,
   * `properties` cut short): dropped as `too-large` after sampling, as an event found too large
   * once stringified is.
   */
  readonly tooLarge?: boolean;
  readonly nowMs: number;
  readonly sessionId: string;
  /**
   * `$identify`: the id the events so far went out under, written as `$anon_distinct_id` after
   * redaction, as `distinct_id` itself is: redacting it (an email used as an id) would break the
   * link the event exists to make. Set late when the install id was still unknown.
   */
  anonDistinctId?: string | undefined;
}

export type BuildResult =
  | { readonly ok: true; readonly record: OutboxRecord }
  | { readonly ok: false; readonly reason: ClientDropReason; readonly detail: string };

export interface EventBuilderParts {
  sampler: Sampler;
  redact: Redactor;
  /**
   * The redaction passes that can still change properties `TrackedEvents.readsInPlace` accepted
   * (patterns): must never write to its input. Default `redact`.
   */
  redactInPlace?: Redactor;
  beforeSend: BeforeSend | undefined;
  propertyLimits: SafeLimits;
  maxEventBytes: number;
  /** Notes the app's hooks while they run (`redact`'s and `beforeSend`), for `track()` to refuse events from inside them. */
  hooks?: RunningHook;
}

/**
 * The part of the pipeline that needs the distinct id: sampling → redaction → `beforeSend` →
 * one `JSON.stringify` into an outbox record. Never throws: every way an event can fail ends
 * in a drop reason the client counts.
 *
 * Super properties are redacted once when they are registered (`redactSuper`), not per event:
 * the field pass works in place, and a shared nested object must not be redacted twice (a
 * hash of a hash).
 */
/**
 * The super properties as registered at one moment, never changed afterwards (`register`
 * replaces the whole state): an event that waits to be built keeps the one of its `track` call.
 */
export interface SuperState {
  readonly properties: Record<string, unknown>;
  readonly keys: readonly string[];
  /** `"k":v,` for every super property, ready to splice into an event's properties. */
  readonly fragment: string;
}

const NO_SUPERS: SuperState = Object.freeze({ properties: {}, keys: [], fragment: '' });

export class EventBuilder {
  private supers: SuperState = NO_SUPERS;
  private readonly nameJson = new Map<string, string>();
  private distinctId = '';
  private distinctIdJson = '""';
  private isoMs = Number.NaN;
  private iso = '';

  private readonly hooks: RunningHook;

  constructor(private readonly parts: EventBuilderParts) {
    this.hooks = parts.hooks ?? new RunningHook(silentLogger);
  }

  /** Replaces the super properties with `properties` (already safe-cloned), redacted once here. */
  setSuperProperties(properties: Record<string, unknown>): void {
    const redacted = this.redacted(this.parts.redact, properties);
    for (const key of ENRICHED_KEYS) delete redacted[key];
    this.supers = { properties: redacted, keys: Object.keys(redacted), fragment: fragmentOf(redacted) };
  }

  /** The super properties now, for an event built later (`build`'s `supers`). */
  get superState(): SuperState {
    return this.supers;
  }

  /**
   * `anonymous`: `distinctId` is the install id (no `identify`, no `distinctId` option), written
   * as `$is_identified: false` as posthog-js does, so a destination can tell an anonymous id from
   * a user id (Segment's `anonymousId` and `userId`). `samplingPoint`: what deterministic
   * sampling decides by (`Session.samplingPointFor`); default the distinct id's.
   */
  build(
    tracked: TrackedEvent,
    distinctId: string,
    anonymous = false,
    supers: SuperState = this.supers,
    samplingPoint?: number,
  ): BuildResult {
    if (!this.parts.sampler.keep(tracked.name, distinctId, tracked.nowMs, samplingPoint)) {
      return { ok: false, reason: 'sampling', detail: tracked.name };
    }
    if (tracked.tooLarge === true) return this.tooLarge(tracked);
    let own: Record<string, unknown>;
    try {
      own =
        tracked.inPlace === true
          ? tracked.clean === true
            ? tracked.properties
            : this.redacted(this.parts.redactInPlace ?? this.parts.redact, tracked.properties)
          : this.redacted(this.parts.redact, tracked.properties);
    } catch (error) {
      // Fail closed: an event whose redaction failed might carry what it should have removed.
      return { ok: false, reason: 'rejected', detail: `redaction failed: ${describe(error)}` };
    }
    // The client's own keys win over the app's.
    for (const key of ENRICHED_KEYS) if (Object.hasOwn(own, key)) delete own[key];
    if (tracked.anonDistinctId !== undefined && tracked.inPlace !== true) {
      own.$anon_distinct_id = tracked.anonDistinctId;
    }
    let json: string | BuildResult;
    // The record goes by the uuid the event is sent with (beforeSend may set its own idempotency
    // key): the dead letters, their replay and the server's answers name that one.
    let uuid = tracked.uuid;
    if (this.parts.beforeSend === undefined) {
      json = this.fastJson(tracked, distinctId, own, anonymous, supers);
    } else {
      const hooked = this.hookedJson(tracked, distinctId, own, anonymous, supers);
      if ('ok' in hooked) return hooked;
      ({ json, uuid } = hooked);
    }
    if (typeof json !== 'string') return json;
    // Most events need no count at all (see utf8LengthOver).
    if (utf8LengthOver(json, this.parts.maxEventBytes)) return this.tooLarge(tracked);
    return { ok: true, record: { uuid, json, timestampMs: tracked.nowMs } };
  }

  /** `redact(properties)`, with the app's hooks it runs noted as running (see `RunningHook`). */
  private redacted(redact: Redactor, properties: Record<string, unknown>): Record<string, unknown> {
    if (redact.appHooks === undefined) return redact(properties);
    const outer = this.hooks.enter(redact.appHooks);
    try {
      return redact(properties);
    } finally {
      this.hooks.leave(outer);
    }
  }

  private tooLarge(tracked: TrackedEvent): BuildResult {
    return {
      ok: false,
      reason: 'too-large',
      detail: `${tracked.name}: over ${this.parts.maxEventBytes} bytes`,
    };
  }

  /**
   * The common case, without `beforeSend`: the event's JSON is assembled from pieces, with the
   * super properties' JSON made once when they are registered and the enrichment written
   * directly: one `JSON.stringify` of the app's own properties per event, no merged copy.
   * The content is what `JSON.stringify` of the merged event gives (key order may differ, which
   * JSON does not give a meaning to); no key is written twice.
   */
  private fastJson(
    tracked: TrackedEvent,
    distinctId: string,
    own: Record<string, unknown>,
    anonymous: boolean,
    supers: SuperState,
  ): string | BuildResult {
    let ownJson: string;
    try {
      ownJson = JSON.stringify(own);
    } catch {
      return { ok: false, reason: 'invalid', detail: 'the properties cannot be serialised' };
    }
    let superFragment = supers.fragment;
    if (supers.keys.length > 0 && supers.keys.some((k) => Object.hasOwn(own, k))) {
      superFragment = fragmentOf(supers.properties, own);
    }
    const ownFragment = ownJson.length > 2 ? `${ownJson.slice(1, -1)},` : '';
    return (
      `{"uuid":"${tracked.uuid}","event":${this.nameOf(tracked.name)},"distinct_id":${this.distinctIdOf(distinctId)},` +
      `"timestamp":"${this.isoOf(tracked.nowMs)}","properties":{${superFragment}${ownFragment}` +
      `${anonymous ? ANONYMOUS_FRAGMENT : ''}"$session_id":"${tracked.sessionId}",${LIB_FRAGMENT}}}`
    );
  }

  private hookedJson(
    tracked: TrackedEvent,
    distinctId: string,
    own: Record<string, unknown>,
    anonymous: boolean,
    supers: SuperState,
  ): { json: string; uuid: string } | BuildResult {
    const event: HomingEvent = {
      uuid: tracked.uuid,
      event: this.redactedName(tracked.name),
      distinct_id: distinctId,
      timestamp: this.isoOf(tracked.nowMs),
      properties: {
        // A copy: the hook may edit what it is given, and the super properties go with every event.
        ...superPropertiesCopy(supers.properties),
        ...own,
        ...(anonymous ? { $is_identified: false } : {}),
        $session_id: tracked.sessionId,
        $lib: LIB_NAME,
        $lib_version: LIB_VERSION,
      },
    };
    let answer: unknown;
    const outer = this.hooks.enter('beforeSend');
    try {
      answer = this.parts.beforeSend!(event);
    } catch (error) {
      return { ok: false, reason: 'rejected', detail: `beforeSend threw: ${describe(error)}` };
    } finally {
      this.hooks.leave(outer);
    }
    // Not an event: an async beforeSend's Promise, whose rejection must not reach the host.
    if (isAsyncAnswer(answer)) return { ok: false, reason: 'rejected', detail: `beforeSend ${ASYNC_HOOK}` };
    if (answer === null || answer === false) return { ok: false, reason: 'rejected', detail: 'beforeSend' };
    const checked = checkShape(answer === undefined ? event : answer);
    if (typeof checked === 'string') return { ok: false, reason: 'rejected', detail: checked };
    const json = this.serialise(checked);
    if (json === undefined) return { ok: false, reason: 'invalid', detail: 'the event cannot be serialised' };
    return { json, uuid: checked.uuid };
  }

  /** `beforeSend` may have put anything into the properties: clone again only when needed. */
  private serialise(event: HomingEvent): string | undefined {
    try {
      return JSON.stringify(event);
    } catch {
      try {
        // Cut short when too large: the size check after this refuses it all the same.
        const { value } = safeClone(event.properties, this.parts.propertyLimits, this.parts.maxEventBytes);
        return JSON.stringify({ ...event, properties: value });
      } catch {
        return undefined;
      }
    }
  }

  /** The JSON of the event name as sent (redacted), made once per name. */
  private nameOf(name: string): string {
    let json = this.nameJson.get(name);
    if (json === undefined) {
      json = JSON.stringify(this.redactedName(name));
      // Bounded: an app that builds names from data must not grow this without end.
      if (this.nameJson.size < 10_000) this.nameJson.set(name, json);
    }
    return json;
  }

  /**
   * Names built from data carry it (`user bob@example.com signed up`): the pattern pass replaces
   * it, as in string values, and a name a replacement made longer is cut again to the limit.
   */
  private redactedName(name: string): string {
    const redact = this.parts.redact.redactName;
    if (redact === undefined) return name;
    let out: string;
    try {
      out = redact(name);
    } catch {
      // Fail closed, as for properties; the pattern pass is not known to throw.
      return REDACTED;
    }
    return out.length > MAX_EVENT_NAME_LENGTH ? out.slice(0, MAX_EVENT_NAME_LENGTH) : out;
  }

  private distinctIdOf(id: string): string {
    if (id !== this.distinctId) {
      this.distinctId = id;
      this.distinctIdJson = JSON.stringify(id);
    }
    return this.distinctIdJson;
  }

  private isoOf(ms: number): string {
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }
}

/** Keys the client sets on every event; an app's or a super property's value for them is replaced. */
export const ENRICHED_KEYS = ['$session_id', '$lib', '$lib_version', '$is_identified'] as const;
const ANONYMOUS_FRAGMENT = '"$is_identified":false,';
const LIB_FRAGMENT = `"$lib":${JSON.stringify(LIB_NAME)},"$lib_version":${JSON.stringify(LIB_VERSION)}`;

/** `"k":v,` per entry of `properties` (minus the keys `except` has), as JSON.stringify writes them. */
function fragmentOf(properties: Record<string, unknown>, except?: Record<string, unknown>): string {
  let out = '';
  for (const key of Object.keys(properties)) {
    if (except !== undefined && Object.hasOwn(except, key)) continue;
    const value = JSON.stringify(properties[key]);
    if (value !== undefined) out += `${JSON.stringify(key)}:${value},`;
  }
  return out;
}

/** What `beforeSend` answered, as an event, or why it cannot be one. */
function checkShape(value: unknown): HomingEvent | string {
  if (value === null || typeof value !== 'object')
    return 'beforeSend answered something that is not an event';
  const e = value as Partial<Record<keyof HomingEvent, unknown>>;
  if (typeof e.uuid !== 'string' || e.uuid.length === 0 || utf8LengthOver(e.uuid, MAX_UUID_BYTES))
    return 'beforeSend broke the uuid (a non-empty string of at most 255 bytes)';
  const name = checkEventName(e.event);
  if (!name.ok) return `beforeSend broke the event name: ${name.detail}`;
  if (typeof e.distinct_id !== 'string' || e.distinct_id.length === 0) return 'beforeSend broke distinct_id';
  if (typeof e.timestamp !== 'string' || Number.isNaN(Date.parse(e.timestamp)))
    return 'beforeSend broke the timestamp';
  if (e.properties === null || typeof e.properties !== 'object' || Array.isArray(e.properties)) {
    return 'beforeSend broke the properties';
  }
  return {
    uuid: e.uuid,
    event: name.name,
    distinct_id: e.distinct_id,
    timestamp: e.timestamp,
    properties: e.properties as Record<string, unknown>,
  };
}

export function describe(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an unprintable error';
  }
}

/** The super properties (plain JSON, cloned by `register`) with nested objects copied too. */
function superPropertiesCopy(superProperties: Record<string, unknown>): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...superProperties };
  for (const key of Object.keys(copy)) {
    const value = copy[key];
    if (typeof value !== 'object' || value === null) continue;
    // defineProperty: an own "__proto__" key must stay a key, as the spread above keeps it.
    Object.defineProperty(copy, key, {
      value: structuredClone(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}
