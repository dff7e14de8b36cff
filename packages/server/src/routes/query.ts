import type { FastifyPluginAsync } from 'fastify';
import { idString as ingestIdRule } from '../ingest/buildIngestEvent.js';
import { parseIsoMs } from '../store/parse-iso.js';
import type { EventPosition, EventQuery, Store, StoredEvent } from '../store/store.js';
import { AdminApiError, adminContext, type AdminRouteOptions, installAdminApi } from './adminAuth.js';

/**
 * The query API (admin key): `GET /api/events` pages through a project's events, newest first;
 * `GET /api/stats` counts them per time bucket and per event name. The ground for the dashboard.
 */

/** Limits of the query API, in one place. */
export const QUERY_LIMITS = {
  /** Events per page when `limit` is absent. */
  defaultPageSize: 100,
  /** Most events one page may hold (the store's own cap). */
  maxPageSize: 1000,
  /** Most buckets one stats call may answer (the store refuses more as well). */
  maxStatsBuckets: 10_000,
  /**
   * Most event names one stats answer names: those with the most events in the range; the rest
   * are counted as `other`. Anyone with the write key can make up names: unbounded, a million of
   * them made a 59 MB answer that held the event loop for seconds.
   */
  maxStatsEvents: 1000,
  /** Stats range when `from` is absent: the last day. */
  defaultStatsRangeMs: 24 * 3600_000,
  /** Stats interval when `interval` is absent. */
  defaultStatsInterval: '1h',
  /** Longest `event` / `distinct_id` filter (the store refuses longer ids at ingest). */
  maxIdChars: 1000,
} as const;

/** An event as the admin API answers it: the wire names of the ingest format. */
export interface WireEvent {
  uuid: string;
  event: string;
  distinct_id: string;
  timestamp: string;
  original_timestamp: string | null;
  received_at: string;
  properties: Record<string, unknown>;
}

export function toWireEvent(e: StoredEvent): WireEvent {
  return {
    uuid: e.uuid,
    event: e.event,
    distinct_id: e.distinctId,
    timestamp: e.timestamp,
    original_timestamp: e.originalTimestamp,
    received_at: e.receivedAt,
    properties: e.properties,
  };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 604_800_000 };
const ISO_INSTANT =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/**
 * A point in time from a query string: ISO 8601 (a date, or a date-time with a zone: a zone-less
 * time would silently mean the server's local time), `now`, or relative to now (`-24h`, `-7d`).
 * A fraction finer than a millisecond is rounded up to the next one.
 */
export function parseInstant(value: string, name: string, nowMs: number): number {
  const v = value.trim();
  if (v.toLowerCase() === 'now') return nowMs;
  // Units are lower case only: `M` is a month to Grafana and ISO 8601 users, and read as minutes
  // it would silently answer for a window thousands of times too short.
  const rel = /^-(\d{1,9})([smhdw])$/.exec(v);
  // Stored times are whole milliseconds: a finer bound is rounded up, so that `t >= since` and
  // `t < until` select exactly what they say (truncated, 10.0009 would take in an event at 10.000).
  const ms = rel
    ? nowMs - Number(rel[1]) * UNIT_MS[rel[2]!]!
    : ISO_INSTANT.test(v)
      ? parseIsoMs(v, 'ceil')
      : NaN;
  // ±8.64e15 ms is the range of a JavaScript Date; beyond it toISOString() would throw.
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
    // A zone written +05:30 unencoded arrives as " 05:30": a URL's query reads + as a space.
    const plusAsSpace = /\d \d{2}(:?\d{2})?$/.test(v)
      ? ' (a + in a URL query reads as a space: write it %2B)'
      : '';
    throw new AdminApiError(
      'invalid-request',
      `${name} must be an ISO 8601 date or date-time with a zone (2026-01-31, 2026-01-31T12:00:00Z), ` +
        `"now", or relative like -24h or -7d (units s, m, h, d, w, lower case; m is minutes)${plusAsSpace}`,
    );
  }
  return ms;
}

function isAbsolute(value: string | undefined): boolean {
  return value !== undefined && ISO_INSTANT.test(value.trim());
}

const WEEK_MS = 7 * 86_400_000;

/**
 * Where relative times snap to whole intervals from: the epoch, except for whole weeks, which
 * start on Monday 00:00 UTC as ISO weeks (and most dashboards) do. From the epoch, a Thursday,
 * weekly buckets ran Thursday to Wednesday.
 */
function snapOrigin(intervalMs: number): number {
  return intervalMs % WEEK_MS === 0 ? 4 * 86_400_000 : 0;
}

/** A bucket width: `30s`, `5m`, `1h`, `1d`, `1w`, or a number of seconds. */
export function parseInterval(value: string): number {
  const text = value.trim();
  const m = /^(\d{1,9}(?:\.\d{1,20})?)([smhdw])?$/.exec(text);
  const seconds = m ? (Number(m[1]) * UNIT_MS[m[2] ?? 's']!) / 1000 : NaN;
  if (!Number.isFinite(seconds) || seconds < 1) {
    // Too many digits is a size, not a form the rule below should be read as refusing.
    const tooLong = /^\d{10,}(?:\.\d+)?[smhdw]?$/.test(text);
    throw new AdminApiError(
      'invalid-request',
      (tooLong ? 'interval is too large: at most 9 digits before the unit. ' : '') +
        'interval must be a duration of at least 1 second: 30s, 5m, 1h, 1d, 1w (lower case; m is minutes), ' +
        'or a number of seconds',
    );
  }
  return seconds;
}

/**
 * A page's `next`: the (timestamp ms, seq) of its last event, the store's keyset. Opaque to
 * clients: base64url of `["k", tsMs, seq]`.
 */
function encodeCursor(p: EventPosition): string {
  return Buffer.from(JSON.stringify(['k', p.tsMs, p.seq])).toString('base64url');
}

function decodeCursor(value: string): EventPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
  } catch {}
  if (
    Array.isArray(parsed) &&
    parsed.length === 3 &&
    parsed[0] === 'k' &&
    Number.isSafeInteger(parsed[1]) &&
    Number.isSafeInteger(parsed[2])
  ) {
    return { tsMs: parsed[1] as number, seq: parsed[2] as number };
  }
  if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((x) => Number.isSafeInteger(x))) {
    // [ms, count shown at that ms]: what servers before the keyset cursor handed out.
    throw new AdminApiError(
      'invalid-request',
      'cursor is from an older version of this server; start again from the first page (no cursor)',
    );
  }
  throw new AdminApiError('invalid-request', 'cursor is not one this API handed out; pass `next` as it came');
}

export interface EventPageQuery extends Omit<EventQuery, 'limit' | 'since' | 'until' | 'before'> {
  sinceMs?: number;
  untilMs?: number;
  limit: number;
  cursor?: string;
}

/**
 * One page of events, newest first, and the cursor of the next (null on the last page). The store
 * orders by (timestamp, seq) and the cursor is the last event's (timestamp, seq), so a page starts
 * right after it: events sharing a millisecond, however many, are neither lost nor repeated.
 */
export async function queryEventPage(
  store: Store,
  q: EventPageQuery,
): Promise<{ events: StoredEvent[]; next: string | null }> {
  const before = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
  // A page of large events stops short of `limit` (PAGE_PROPERTIES_CHARS); the next page
  // carries on after its last event.
  let cut = false;
  const events = await store.queryEvents({
    projectId: q.projectId,
    event: q.event,
    distinctId: q.distinctId,
    since: q.sinceMs === undefined ? undefined : new Date(q.sinceMs).toISOString(),
    until: q.untilMs === undefined ? undefined : new Date(q.untilMs).toISOString(),
    before,
    limit: q.limit,
    onCut: () => (cut = true),
  });
  if (events.length < q.limit && !cut) return { events, next: null };
  const last = events[events.length - 1]!;
  return { events, next: encodeCursor({ tsMs: Date.parse(last.timestamp), seq: last.seq }) };
}

const idString = { type: 'string', minLength: 1, maxLength: QUERY_LIMITS.maxIdChars } as const;
const timeString = { type: 'string', minLength: 1, maxLength: 64 } as const;

/**
 * An `event` or `distinct_id` the admin API is asked about must be one ingest could have stored:
 * otherwise an erasure of `%00` would log (and suppress) a person who cannot exist.
 */
export function checkId(value: string | undefined, name: string): void {
  if (value === undefined) return;
  const problem = ingestIdRule(value, name);
  if (typeof problem === 'string') {
    throw new AdminApiError(
      'invalid-request',
      `${problem}; ids are non-empty, at most ${QUERY_LIMITS.maxIdChars} characters, ` +
        'without NUL or lone surrogates (the rule ingest applies)',
    );
  }
}

/**
 * A whole-number query parameter as decimal digits only. The schema's integer coercion goes
 * through Number(), which would take `0x10`, `1e1` or ` 3` as numbers a client never meant.
 * The schema keeps it a string (a repeated parameter still fails there).
 */
export const digitsString = { type: 'string', maxLength: 32 } as const;

export function parseLimit(value: string | undefined, name: string, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) {
    throw new AdminApiError(
      'invalid-request',
      `${name} must be a whole number from 1 to ${max}, in decimal digits`,
    );
  }
  return n;
}

/** Query string of an event listing; shared with the person access route. */
export const eventPageQuerySchema = {
  type: 'object',
  properties: {
    since: timeString,
    until: timeString,
    limit: digitsString,
    cursor: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

/** A 200 page of events: `{ events, next }`. */
export const eventPageResponseSchema = {
  type: 'object',
  required: ['events', 'next'],
  properties: {
    events: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          uuid: { type: 'string' },
          event: { type: 'string' },
          distinct_id: { type: 'string' },
          timestamp: { type: 'string' },
          original_timestamp: { type: ['string', 'null'] },
          received_at: { type: 'string' },
          properties: { type: 'object', additionalProperties: true },
        },
      },
    },
    next: { type: ['string', 'null'] },
  },
} as const;

export interface EventPageQueryString {
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
}

/** Turns a validated query string into the time bounds and page size of `queryEventPage`. */
export function pageBounds(
  qs: EventPageQueryString,
  nowMs: number,
): Pick<EventPageQuery, 'sinceMs' | 'untilMs' | 'limit' | 'cursor'> {
  const sinceMs = qs.since === undefined ? undefined : parseInstant(qs.since, 'since', nowMs);
  const untilMs = qs.until === undefined ? undefined : parseInstant(qs.until, 'until', nowMs);
  if (sinceMs !== undefined && untilMs !== undefined && untilMs <= sinceMs) {
    throw new AdminApiError('invalid-request', 'until must be after since');
  }
  const limit = parseLimit(qs.limit, 'limit', QUERY_LIMITS.maxPageSize, QUERY_LIMITS.defaultPageSize);
  return { sinceMs, untilMs, limit, cursor: qs.cursor };
}

interface StatsQueryString {
  from?: string;
  to?: string;
  interval?: string;
}

export const queryRoutes: FastifyPluginAsync<AdminRouteOptions> = async (fastify, options) => {
  const { store } = options;
  installAdminApi(fastify, options);

  fastify.get<{ Querystring: EventPageQueryString & { event?: string; distinct_id?: string } }>(
    '/api/events',
    {
      schema: {
        querystring: {
          ...eventPageQuerySchema,
          properties: { ...eventPageQuerySchema.properties, event: idString, distinct_id: idString },
        },
        response: { 200: eventPageResponseSchema },
      },
    },
    async (request) => {
      const { project } = adminContext(request);
      const qs = request.query;
      checkId(qs.event, 'event');
      checkId(qs.distinct_id, 'distinct_id');
      const page = await queryEventPage(store, {
        projectId: project.id,
        event: qs.event,
        distinctId: qs.distinct_id,
        ...pageBounds(qs, Date.now()),
      });
      return { events: page.events.map(toWireEvent), next: page.next };
    },
  );

  fastify.get<{ Querystring: StatsQueryString }>(
    '/api/stats',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            from: timeString,
            to: timeString,
            interval: { type: 'string', minLength: 1, maxLength: 32 },
          },
        },
      },
    },
    async (request) => {
      const { project } = adminContext(request);
      const now = Date.now();
      const qs = request.query;
      // Buckets are whole milliseconds wide: `1.0005` is 1001 ms, and the answer reports the
      // width used (the store rounds the same way), so a chart's arithmetic matches its buckets.
      const intervalMs = Math.round(parseInterval(qs.interval ?? QUERY_LIMITS.defaultStatsInterval) * 1000);
      const intervalSeconds = intervalMs / 1000;
      let toMs = qs.to === undefined ? now : parseInstant(qs.to, 'to', now);
      let fromMs =
        qs.from === undefined ? toMs - QUERY_LIMITS.defaultStatsRangeMs : parseInstant(qs.from, 'from', now);
      // Times relative to now (or defaulted) snap outwards to whole intervals, so hourly buckets
      // start on the hour (UTC) and a chart's buckets stay put between refreshes. Absolute
      // times are taken as given.
      const origin = snapOrigin(intervalMs);
      if (!isAbsolute(qs.to)) toMs = Math.ceil((toMs - origin) / intervalMs) * intervalMs + origin;
      if (!isAbsolute(qs.from)) fromMs = Math.floor((fromMs - origin) / intervalMs) * intervalMs + origin;
      if (Math.abs(fromMs) > 8.64e15 || Math.abs(toMs) > 8.64e15) {
        throw new AdminApiError('invalid-request', 'from..to at this interval leaves the range of dates');
      }
      if (toMs <= fromMs) throw new AdminApiError('invalid-request', 'to must be after from');
      const buckets = Math.ceil((toMs - fromMs) / intervalMs);
      if (buckets > QUERY_LIMITS.maxStatsBuckets) {
        throw new AdminApiError(
          'invalid-request',
          `from..to at this interval makes ${buckets} buckets, more than ${QUERY_LIMITS.maxStatsBuckets}; ` +
            'use a larger interval or a shorter range',
        );
      }
      // The store folds the names beyond maxStatsEvents before it builds a bucket, so what is
      // merged and serialized here is bounded by buckets × maxStatsEvents.
      const stats = await store.stats({
        projectId: project.id,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        intervalSeconds,
        maxEvents: QUERY_LIMITS.maxStatsEvents,
      });
      const totals = {
        total: 0,
        by_event: Object.create(null) as Record<string, number>,
        other: 0,
        other_names: stats.otherNames,
      };
      for (const b of stats.buckets) {
        totals.total += b.total;
        totals.other += b.other;
        for (const [name, n] of Object.entries(b.byEvent))
          totals.by_event[name] = (totals.by_event[name] ?? 0) + n;
      }
      return {
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        interval_seconds: intervalSeconds,
        totals,
        buckets: stats.buckets.map((b) => ({
          start: b.start,
          total: b.total,
          by_event: b.byEvent,
          other: b.other,
        })),
      };
    },
  );
};
