import type { HomingEvent } from '../event.js';
import type { ClientDropReason } from '../events.js';
import type { OutboxRecord } from '../outbox/outbox.js';
import { utf8Length } from '../outbox/records.js';
import { checkEventName } from '../pipeline/eventName.js';
import type { SafeLimits } from '../pipeline/safeSerialize.js';
import { safeClone } from '../pipeline/safeSerialize.js';
import type { Sampler } from '../pipeline/sampling.js';
import type { BeforeSend } from './options.js';
import type { Redactor } from './redactor.js';
import { LIB_NAME, LIB_VERSION } from './version.js';

/** An event that went through `track()`'s synchronous checks, waiting for the rest of the pipeline. */
export interface TrackedEvent {
  readonly uuid: string;
  readonly name: string;
  /** A safe clone of the app's properties (plain JSON data, no cycles). */
  readonly properties: Record<string, unknown>;
  readonly nowMs: number;
  readonly sessionId: string;
}

export type BuildResult =
  | { readonly ok: true; readonly record: OutboxRecord }
  | { readonly ok: false; readonly reason: ClientDropReason; readonly detail: string };

export interface EventBuilderParts {
  sampler: Sampler;
  redact: Redactor;
  beforeSend: BeforeSend | undefined;
  propertyLimits: SafeLimits;
  maxEventBytes: number;
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
export class EventBuilder {
  private superProperties: Record<string, unknown> = {};

  constructor(private readonly parts: EventBuilderParts) {}

  /** Replaces the super properties with `properties` (already safe-cloned), redacted once here. */
  setSuperProperties(properties: Record<string, unknown>): void {
    this.superProperties = this.parts.redact(properties);
  }

  build(tracked: TrackedEvent, distinctId: string): BuildResult {
    if (!this.parts.sampler.keep(tracked.name, distinctId, tracked.nowMs)) {
      return { ok: false, reason: 'sampling', detail: tracked.name };
    }
    let properties: Record<string, unknown>;
    try {
      properties = {
        ...this.superProperties,
        ...this.parts.redact(tracked.properties),
        $session_id: tracked.sessionId,
        $lib: LIB_NAME,
        $lib_version: LIB_VERSION,
      };
    } catch (error) {
      // Fail closed: an event whose redaction failed might carry what it should have removed.
      return { ok: false, reason: 'rejected', detail: `redaction failed: ${describe(error)}` };
    }
    let event: HomingEvent = {
      uuid: tracked.uuid,
      event: tracked.name,
      distinct_id: distinctId,
      timestamp: new Date(tracked.nowMs).toISOString(),
      properties,
    };
    if (this.parts.beforeSend !== undefined) {
      let answer: unknown;
      try {
        answer = this.parts.beforeSend(event);
      } catch (error) {
        return { ok: false, reason: 'rejected', detail: `beforeSend threw: ${describe(error)}` };
      }
      if (answer === null || answer === false) return { ok: false, reason: 'rejected', detail: 'beforeSend' };
      const checked = checkShape(answer === undefined ? event : answer);
      if (typeof checked === 'string') return { ok: false, reason: 'rejected', detail: checked };
      event = checked;
    }
    const json = this.serialise(event);
    if (json === undefined) return { ok: false, reason: 'invalid', detail: 'the event cannot be serialised' };
    if (utf8Length(json) > this.parts.maxEventBytes) {
      return {
        ok: false,
        reason: 'too-large',
        detail: `${tracked.name}: over ${this.parts.maxEventBytes} bytes`,
      };
    }
    return { ok: true, record: { uuid: event.uuid, json, timestampMs: tracked.nowMs } };
  }

  /** `beforeSend` may have put anything into the properties: clone again only when needed. */
  private serialise(event: HomingEvent): string | undefined {
    try {
      return JSON.stringify(event);
    } catch {
      try {
        const { value } = safeClone(event.properties, this.parts.propertyLimits);
        return JSON.stringify({ ...event, properties: value });
      } catch {
        return undefined;
      }
    }
  }
}

/** What `beforeSend` answered, as an event, or why it cannot be one. */
function checkShape(value: unknown): HomingEvent | string {
  if (value === null || typeof value !== 'object')
    return 'beforeSend answered something that is not an event';
  const e = value as Partial<Record<keyof HomingEvent, unknown>>;
  if (typeof e.uuid !== 'string' || e.uuid.length === 0 || e.uuid.length > 255)
    return 'beforeSend broke the uuid';
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
