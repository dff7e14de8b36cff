import type { IngestEvent } from '../store/store.js';
import { checkEventShape, type ShapeLimits } from './checkEventShape.js';
import { contentUuid } from './contentUuid.js';
import {
  calendarProblem,
  eventTime,
  readTimestamp,
  retentionPeriodText,
  TIMESTAMP_FORMAT_ERROR,
} from './eventTime.js';
import { formatIso } from './formatIso.js';

/** What every wire format hands over for one event, still unchecked. */
export interface EventParts {
  uuid: unknown;
  event: unknown;
  distinctId: unknown;
  timestamp: unknown;
  properties: unknown;
  /** ms the client's clock is behind the server's (0: no correction). */
  skewMs: number;
  /** What the wire format calls the id fields, for its errors (default `uuid`, `distinct_id`). */
  names?: { readonly uuid: string; readonly distinctId: string };
  /**
   * The sender says this timestamp is right (PostHog's `$ignore_sent_at`): see
   * BuildContext.timestampsAsserted.
   */
  timestampAsserted?: boolean;
}

export interface BuildContext extends ShapeLimits {
  receivedMs: number;
  receivedAt: string;
  /**
   * The retention period, ms (0 or absent: none): an event dated before it at receive time is
   * stored at the receive time (see eventTime), not deleted by the next retention run.
   */
  retentionMs?: number;
  /**
   * The sender says every timestamp of the request is right (Segment's `/v1/import`, PostHog's
   * `historical_migration`): an import, not a clock that may be wrong. Such an event dated before
   * the retention period is refused (it would be deleted at once), not moved to the receive
   * time, where a two-year import would pile into the minute it arrived.
   */
  timestampsAsserted?: boolean;
}

/** An event ready for the store, or the reason it is refused (named per index in the answer). */
export type Built = IngestEvent | string;

const MAX_ID_CHARS = 1000;

/**
 * Most UTF-8 bytes of an `event` or `distinct_id`, the ids stored in an index. PostgreSQL refuses
 * a btree index row over 2704 bytes (8 KiB pages) and with it the whole batch, on every resend:
 * 1000 characters of a 3-byte script (CJK, Indic, Thai) are 3000 bytes. Its indexes
 * events_person (project_pk, distinct_id, ts, seq) and events_name (project_pk, event, ts) leave
 * about 2660 bytes for the text; SQLite has no such limit, but applies the same rule so both
 * stores take the same events. 1000 characters of a 1- or 2-byte script still fit.
 */
export const MAX_INDEXED_ID_BYTES = 2000;

/** As long as the uuid contentUuid makes, which is made only once the event's size is known. */
const CONTENT_UUID_STAND_IN = '00000000-0000-8000-8000-000000000000';

/**
 * Checks one event's fields and builds the store's IngestEvent: the same rules the store
 * enforces (so a batch is never refused whole by it), plus the server's own limits, which
 * apply to the event as it is stored, whatever the wire format sent.
 */
export function buildIngestEvent(p: EventParts, ctx: BuildContext): Built {
  const event = indexedIdString(p.event, 'event');
  if (typeof event !== 'object') return event;
  const distinctIdField = p.names?.distinctId ?? 'distinct_id';
  let rawDistinctId = p.distinctId;
  if (typeof rawDistinctId === 'number') {
    // A body's numbers a double would change arrive as their digits (`inexactNumbers.ts`); an
    // integer past 2^53 still a number here writes back as the text it was sent as
    // (1152921504606847000), which is its id. A fraction (1.5) or an exponent form is refused.
    if (!Number.isInteger(rawDistinctId) || /e/i.test(String(rawDistinctId))) {
      return `${distinctIdField} is a number that is not an integer within ±${Number.MAX_SAFE_INTEGER}, which JSON numbers cannot carry exactly: send it as a string`;
    }
    rawDistinctId = String(rawDistinctId);
  }
  const distinctId = indexedIdString(rawDistinctId, distinctIdField);
  if (typeof distinctId !== 'object') return distinctId;
  if (isDotSegment(distinctId.v)) return dotSegmentReason(distinctIdField, distinctId.v);
  const properties = p.properties ?? {};
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    return 'properties must be an object';
  }
  // Measured as stored and exported (the admin API's event), not as sent: a wire format's
  // mapping copies values (Segment's url to $current_url) and nests others a level deeper
  // (traits as $set), so an event within the limits as sent could be stored over them, and the
  // server's own export of it be refused when imported again. The timestamps are not made yet:
  // the receive time stands in for each (the same length), original_timestamp included even
  // when there is none, as the export imported again has one.
  const shape = checkEventShape(
    {
      uuid: p.uuid ?? CONTENT_UUID_STAND_IN,
      event: event.v,
      distinct_id: distinctId.v,
      timestamp: ctx.receivedAt,
      original_timestamp: ctx.receivedAt,
      received_at: ctx.receivedAt,
      properties,
    },
    ctx,
  );
  if (shape !== null) return shape;

  const originalMs = readTimestamp(p.timestamp);
  if (Number.isNaN(originalMs)) {
    const problem = typeof p.timestamp === 'string' ? calendarProblem(p.timestamp) : null;
    return problem === null
      ? TIMESTAMP_FORMAT_ERROR
      : `timestamp ${JSON.stringify(p.timestamp).slice(0, 40)} is not a date: ${problem}`;
  }
  let timestamp = ctx.receivedAt;
  let originalTimestamp: string | null = null;
  let clampedFrom: string | undefined;
  if (originalMs !== undefined) {
    originalTimestamp = formatIso(originalMs);
    // An import's timestamps are the point of the request: no clock-skew correction either.
    const skewMs = ctx.timestampsAsserted === true ? 0 : p.skewMs;
    const t = eventTime(originalMs, skewMs, ctx.receivedMs, ctx.retentionMs ?? 0);
    timestamp = t.iso;
    if (t.beforeRetentionMs !== undefined) {
      clampedFrom = formatIso(t.beforeRetentionMs);
      if (p.timestampAsserted === true || ctx.timestampsAsserted === true) {
        return (
          `timestamp ${clampedFrom} is older than the retention period of ` +
          `${retentionPeriodText(ctx.retentionMs!)}: not stored, as it would be deleted at once ` +
          '(an imported timestamp is kept as sent, never moved to the receive time)'
        );
      }
    }
  }

  let uuid: string;
  if (p.uuid === undefined || p.uuid === null) {
    uuid = contentUuid({
      event: event.v,
      distinctId: distinctId.v,
      timestamp: originalTimestamp,
      properties,
    });
  } else {
    const u = idString(p.uuid, p.names?.uuid ?? 'uuid');
    if (typeof u !== 'object') return u;
    uuid = u.v;
  }
  return {
    uuid,
    event: event.v,
    distinctId: distinctId.v,
    timestamp,
    originalTimestamp,
    receivedAt: ctx.receivedAt,
    properties: properties as Record<string, unknown>,
    ...(clampedFrom === undefined ? {} : { clampedFrom }),
  };
}

/**
 * `.` and `..` are path steps to every URL parser (fetch, browsers, curl, axios), percent-encoded
 * or not: `/api/persons/../events` reaches `/api/events`, the whole project's events, and
 * `DELETE /api/persons/..` reaches no route, so such a person could be neither looked up nor
 * erased by the routes the docs show. Refused as a distinct id, as PostHog refuses its list of
 * illegal ones. Other ids with dots (`...`, `a/../b`) stay one path segment once percent-encoded
 * (`/` as `%2F`), which only a proxy that decodes paths undoes; the query-string person routes
 * reach every id.
 */
function isDotSegment(id: string): boolean {
  return id === '.' || id === '..';
}

function dotSegmentReason(field: string, id: string): string {
  return (
    `${field} ${JSON.stringify(id)} is refused: URLs read it as a path step, so the person's data ` +
    'could not be reached at /api/persons/<id>; send another id'
  );
}

/**
 * idString, and at most MAX_INDEXED_ID_BYTES of UTF-8: the rule for the ids stored in an index.
 * The admin API keeps idString alone, so it can still address (and erase) a person stored
 * before this limit existed.
 */
function indexedIdString(v: unknown, field: string): { v: string } | string {
  const id = idString(v, field);
  // Each UTF-16 unit is at most 3 bytes: only an id longer than a third of the limit is measured.
  if (typeof id === 'object' && id.v.length * 3 > MAX_INDEXED_ID_BYTES) {
    const bytes = Buffer.byteLength(id.v, 'utf8');
    if (bytes > MAX_INDEXED_ID_BYTES) {
      return `${field} longer than ${MAX_INDEXED_ID_BYTES} bytes of UTF-8 (it has ${bytes}; the limit of an indexed id, whatever its script)`;
    }
  }
  return id;
}

/**
 * The rule every id (`event`, `distinct_id`, `uuid`) meets at ingest; the admin API applies it
 * too, so it never acts on (or logs an erasure of) an id that can have no events.
 */
export function idString(v: unknown, field: string): { v: string } | string {
  if (typeof v !== 'string' || v.length === 0) return `${field} must be a non-empty string`;
  if (v.length > MAX_ID_CHARS) return `${field} longer than ${MAX_ID_CHARS} characters`;
  if (v.indexOf('\0') !== -1 || !(v as string & { isWellFormed(): boolean }).isWellFormed()) {
    return `${field} contains NUL or a lone surrogate`;
  }
  return { v };
}
