import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredEvent } from '../src/store/store.js';
import { post, startServerOn, type Answer, type Running } from './harness.js';

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const oddString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: loneSurrogate }),
  fc.constant('\u0000'),
  fc.constant('x'.repeat(1200)),
);
const anyValue = fc.oneof(
  oddString,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue(),
);
const event = fc.record(
  {
    uuid: fc.oneof(fc.uuid(), oddString, fc.integer(), fc.constant(null)),
    event: fc.oneof(oddString, anyValue),
    distinct_id: fc.oneof(oddString, fc.integer(), anyValue),
    timestamp: fc.oneof(
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      oddString,
      fc.integer(),
      fc.double(),
    ),
    properties: fc.oneof(fc.dictionary(oddString, anyValue), anyValue, fc.array(anyValue)),
    type: fc.oneof(fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'), oddString),
    userId: fc.oneof(oddString, fc.integer(), anyValue),
    anonymousId: oddString,
    messageId: fc.oneof(oddString, fc.uuid()),
    context: anyValue,
    traits: anyValue,
    offset: fc.oneof(fc.integer(), fc.double()),
  },
  { requiredKeys: [] },
);

const ROUTES = [
  '/ingest',
  '/batch/',
  '/e/?compression=gzip-js',
  '/i/v0/e/?compression=base64',
  '/capture/',
  '/track/',
  '/v1/batch',
  '/v1/track',
  '/v1/identify',
  '/v1/page',
  '/v1/screen',
  '/v1/group',
  '/v1/alias',
];

const MAX_EVENT_BYTES = 5000;

const validEvent = fc.record({
  uuid: fc.uuid(),
  event: fc.string({ minLength: 1, maxLength: 20 }),
  type: fc.constant('track'),
  distinct_id: fc.string({ minLength: 1, maxLength: 20 }),
  userId: fc.string({ minLength: 1, maxLength: 20 }),
  messageId: fc.uuid(),
  properties: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
});

/** Small flat properties: an event carrying them is valid in every format, whatever else holds. */
const smallProperties = fc.dictionary(
  fc.string({ maxLength: 10 }),
  fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)),
  { maxKeys: 8 },
);

/** Ways to make an event that every route refuses, whichever of its fields the route reads. */
const BREAKERS = {
  'empty-name': { event: '' },
  'name-not-a-string': { event: 5 },
  'id-not-a-string': { distinct_id: {}, userId: {} },
  'loose-timestamp': { timestamp: 'Tuesday, 2020' },
  'too-deep': {
    properties: Array.from({ length: 40 }).reduce<Record<string, unknown>>((inner) => ({ a: inner }), {}),
  },
  'too-large': { properties: { blob: 'x'.repeat(MAX_EVENT_BYTES) } },
} as const;
type Breaker = keyof typeof BREAKERS;

/**
 * An event the test knows the fate of: `valid` (every route stores it) or refused for `breaker`.
 * Its uuid and messageId are the same marker, unique in its request, so the store is asked for
 * it by uuid in every format.
 */
interface Known {
  index: number;
  marker: string;
  breaker: Breaker | null;
}

/** One event of a batch: fuzzed (its fate unknown in advance), or a known valid or refused one. */
const batchItem = fc.oneof(
  { weight: 2, arbitrary: event.map((e) => ({ raw: e as Record<string, unknown>, breaker: undefined })) },
  {
    weight: 1,
    arbitrary: validEvent.map((e) => ({ raw: e as Record<string, unknown>, breaker: undefined })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({
        event: fc.string({ minLength: 1, maxLength: 20 }),
        // Not `.` or `..`, which the server refuses as a distinct id (a URL path step).
        id: fc
          .string({ minLength: 1, maxLength: 20 })
          .filter((id) => id.trim() !== '.' && id.trim() !== '..'),
        properties: smallProperties,
      })
      .map(({ event, id, properties }) => ({
        raw: { type: 'track', event, distinct_id: id, userId: id, properties } as Record<string, unknown>,
        breaker: null as Breaker | null,
      })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(...(Object.keys(BREAKERS) as Breaker[])).map((b) => ({
      raw: { type: 'track', event: 'broken', distinct_id: 'd', userId: 'd', ...BREAKERS[b] } as Record<
        string,
        unknown
      >,
      breaker: b as Breaker | null,
    })),
  },
);

type Item = { raw: Record<string, unknown>; breaker: Breaker | null | undefined };

/** The items of a batch as sent (known ones marked), and what the test knows of them. */
function marked(items: Item[]): { events: Record<string, unknown>[]; known: Known[] } {
  const known: Known[] = [];
  const events = items.map(({ raw, breaker }, index) => {
    if (breaker === undefined) return raw;
    const marker = `known-${index}`;
    known.push({ index, marker, breaker });
    return { ...raw, uuid: marker, messageId: marker };
  });
  return { events, known };
}

const mixedBatch = fc.array(batchItem, { maxLength: 8 }).map(marked);

interface Case {
  route: string;
  format: 'native' | 'posthog' | 'segment' | null;
  /** How many events the body holds (for a route-shaped body), and the ones of known fate. */
  count: number;
  known: Known[];
  /** The request, built once the run's project (and so its write key) exists. */
  request(key: string): { body: string | Buffer; headers: Record<string, string> };
}

const basicAuth = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

/** A request shaped for its route (right envelope and key) carrying odd and known events. */
const plausible: fc.Arbitrary<Case> = fc.oneof(
  mixedBatch.map(({ events, known }): Case => ({
    route: '/ingest',
    format: 'native',
    count: events.length,
    known,
    request: (key) => ({ body: JSON.stringify(events), headers: { authorization: `Bearer ${key}` } }),
  })),
  fc
    .tuple(fc.constantFrom('/batch/', '/capture/', '/track/', '/i/v0/e/'), mixedBatch, anyValue)
    .map(([route, { events, known }, sent_at]): Case => ({
      route,
      format: 'posthog',
      count: events.length,
      known,
      request: (key) => ({ body: JSON.stringify({ api_key: key, batch: events, sent_at }), headers: {} }),
    })),
  mixedBatch.map(({ events, known }): Case => ({
    route: '/e/?compression=gzip-js',
    format: 'posthog',
    count: events.length,
    known,
    request: (key) => ({ body: gzipSync(JSON.stringify({ api_key: key, batch: events })), headers: {} }),
  })),
  // PostHog's one-event body: the event is the envelope.
  fc
    .tuple(fc.constantFrom('/capture/', '/e/', '/i/v0/e/', '/track/'), batchItem)
    .map(([route, item]): Case => {
      const { events, known } = marked([item]);
      return {
        route,
        format: 'posthog',
        count: 1,
        known,
        request: (key) => ({ body: JSON.stringify({ ...events[0], api_key: key }), headers: {} }),
      };
    }),
  fc.tuple(mixedBatch, anyValue).map(([{ events, known }, sentAt]): Case => ({
    route: '/v1/batch',
    format: 'segment',
    count: events.length,
    known,
    request: (key) => ({ body: JSON.stringify({ batch: events, sentAt }), headers: basicAuth(key) }),
  })),
  fc
    .tuple(fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'), batchItem)
    .map(([t, item]): Case => {
      const { events, known } = marked([item]);
      return {
        route: `/v1/${t}`,
        format: 'segment',
        count: 1,
        known,
        request: (key) => ({ body: JSON.stringify(events[0]), headers: basicAuth(key) }),
      };
    }),
);

/** Anything at all: any route, any bytes, any headers. */
const hostile: fc.Arbitrary<Case> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    body: fc.oneof(
      fc.jsonValue().map((v) => () => JSON.stringify(v)),
      event.map((e) => (key: string) => JSON.stringify({ ...e, api_key: key, writeKey: key })),
      fc.string({ unit: 'binary' }).map((b) => () => b),
      fc.uint8Array({ maxLength: 200 }).map((b) => () => Buffer.from(b)),
      mixedBatch.map(
        ({ events }) =>
          () =>
            `data=${Buffer.from(JSON.stringify(events)).toString('base64')}`,
      ),
      mixedBatch.map(
        ({ events }) =>
          () =>
            JSON.stringify(events).slice(0, -3),
      ),
    ),
    headers: fc.record(
      {
        authorization: fc.oneof(
          fc.constant((key: string) => `Bearer ${key}`),
          fc.string().map((h) => () => h),
          fc.constant(() => 'Basic !!!'),
        ),
        'content-type': fc.constantFrom(
          'application/json',
          'text/plain',
          'application/x-www-form-urlencoded',
          'x/y',
        ),
        'content-encoding': fc.constantFrom('gzip', 'identity', 'br', 'deflate', 'compress'),
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ route, body, headers }): Case => ({
    route,
    format: null,
    count: 0,
    known: [],
    request: (key) => {
      const { authorization, ...rest } = headers;
      return {
        body: body(key),
        headers: authorization === undefined ? rest : { ...rest, authorization: authorization(key) },
      };
    },
  }));

/** Of a request's stored events, how many carry this uuid. */
function storedWith(stored: StoredEvent[], uuid: string): number {
  return stored.filter((e) => e.uuid === uuid).length;
}

/**
 * What the store holds after one request must match what the server answered. Each run has a
 * project of its own, so the store's events of that project are exactly what this request stored.
 */
function checkStored(c: Case, r: Answer, stored: StoredEvent[]): void {
  const where = `${c.route} answered ${r.status}: ${r.text.slice(0, 200)}`;
  if (r.status >= 300) {
    expect(stored, where).toEqual([]);
    return;
  }
  if (c.route === '/ingest' && r.status === 202) {
    // The count the server answered is the count the store holds, and each event it named
    // refused is absent while each other one it knew of is stored once.
    expect(stored.length, where).toBe(r.json.accepted);
    if (c.format !== null) {
      expect(r.json.accepted + r.json.duplicates + r.json.rejected.length, where).toBe(c.count);
    }
    const refused = new Set<number>();
    for (const x of r.json.rejected) {
      expect(typeof x.error, where).toBe('string');
      refused.add(x.index);
    }
    for (const k of c.known) {
      expect(refused.has(k.index), `${where}; event ${k.index} (${k.breaker ?? 'valid'})`).toBe(
        k.breaker !== null,
      );
      expect(storedWith(stored, k.marker), `${where}; event ${k.index}`).toBe(refused.has(k.index) ? 0 : 1);
    }
    return;
  }
  // PostHog and Segment answer 200 without naming refused events: the known ones tell.
  for (const k of c.known) {
    expect(storedWith(stored, k.marker), `${where}; event ${k.index} (${k.breaker ?? 'valid'})`).toBe(
      k.breaker === null ? 1 : 0,
    );
  }
  // A hostile body (format null) may well be a valid one by chance, so only a route-shaped
  // body has a count to bound what was stored.
  if (c.format !== null) expect(stored.length, where).toBeLessThanOrEqual(c.count);
}

/** What a route-shaped body's answer must be, from the events of known fate it holds. */
function checkStatus(c: Case, r: Answer): void {
  if (c.format === null) return;
  const where = `${c.route} answered ${r.status}: ${r.text.slice(0, 200)}`;
  const expected = c.format === 'native' ? 202 : 200;
  if (c.known.some((k) => k.breaker === null)) expect(r.status, where).toBe(expected);
  if (c.count > 0 && c.known.length === c.count && c.known.every((k) => k.breaker !== null)) {
    // Every event refused: the whole body is, except on /ingest, which names them in a 202.
    const onlyTooLarge = c.count === 1 && c.known[0]!.breaker === 'too-large';
    expect(r.status, where).toBe(c.format === 'native' ? 202 : onlyTooLarge ? 413 : 400);
  }
}

describe('fuzz: malformed bodies at every ingest route', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { rateLimit: false, maxEventBytes: MAX_EVENT_BYTES });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('never answers 5xx, never crashes, and stores nothing of a refused request or event', async () => {
    const seen = new Map<number, number>();
    let storedTotal = 0;
    let knownRefused = 0;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(plausible, hostile), async (c) => {
        const project = await s.store.createProject(`fuzz-${run++}`);
        const { body, headers } = c.request(project.writeKey);
        const r = await post(`${s.url}${c.route}`, body, headers);
        expect(r.status, `${c.route} answered ${r.status}: ${r.text.slice(0, 200)}`).toBeLessThan(500);
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        const stored = await s.store.queryEvents({ projectId: project.id, limit: 1000 });
        storedTotal += stored.length;
        knownRefused += c.known.filter((k) => k.breaker !== null).length;
        checkStatus(c, r);
        checkStored(c, r, stored);
        // Error answers name a kind and never echo the body back.
        if (r.status >= 400 && typeof body === 'string' && body.length > 40) {
          expect(r.text).not.toContain(body.slice(0, 40));
        }
      }),
      { numRuns: 400 },
    );
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // The run reached both sides: requests that stored events and requests refused whole, and
    // events of known fate refused inside them.
    const count = (lo: number, hi: number) =>
      [...seen].filter(([k]) => k >= lo && k < hi).reduce((a, [, n]) => a + n, 0);
    expect(count(200, 300)).toBeGreaterThan(20);
    expect(count(400, 500)).toBeGreaterThan(20);
    expect(storedTotal).toBeGreaterThan(0);
    expect(knownRefused).toBeGreaterThan(20);
  });
});
