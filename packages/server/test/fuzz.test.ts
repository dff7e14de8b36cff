import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../src/store/store.js';
import { post, startServerOn, type Running } from './harness.js';

/** Counts what the store really committed, so a refused request can be checked to store nothing. */
function countingStore(inner: Store, counter: { accepted: number }): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'insertEvents') {
        return async (...args: Parameters<Store['insertEvents']>) => {
          const r = await target.insertEvents(...args);
          counter.accepted += r.accepted;
          return r;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

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

const validEvent = fc.record({
  uuid: fc.uuid(),
  event: fc.string({ minLength: 1, maxLength: 20 }),
  type: fc.constant('track'),
  distinct_id: fc.string({ minLength: 1, maxLength: 20 }),
  userId: fc.string({ minLength: 1, maxLength: 20 }),
  messageId: fc.uuid(),
  properties: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })),
});
const mixedBatch = fc.array(fc.oneof(event, validEvent, validEvent), { maxLength: 8 });

interface Case {
  route: string;
  body: string | Buffer;
  headers: Record<string, string>;
}

/** A request shaped for its route (right envelope and key) carrying odd events. */
function plausible(key: string): fc.Arbitrary<Case> {
  const basic = { authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` };
  return fc.oneof(
    mixedBatch.map((b) => ({
      route: '/ingest',
      body: JSON.stringify(b),
      headers: { authorization: `Bearer ${key}` },
    })),
    fc
      .tuple(fc.constantFrom('/batch/', '/capture/', '/track/', '/i/v0/e/'), mixedBatch, anyValue)
      .map(([route, batch, sent_at]) => ({
        route,
        body: JSON.stringify({ api_key: key, batch, sent_at }),
        headers: {},
      })),
    mixedBatch.map((b) => ({
      route: '/e/?compression=gzip-js',
      body: gzipSync(JSON.stringify({ api_key: key, batch: b })),
      headers: {},
    })),
    fc.tuple(mixedBatch, anyValue).map(([batch, sentAt]) => ({
      route: '/v1/batch',
      body: JSON.stringify({ batch, sentAt }),
      headers: basic,
    })),
    fc
      .tuple(
        fc.constantFrom('track', 'identify', 'page', 'screen', 'group', 'alias'),
        fc.oneof(event, validEvent),
      )
      .map(([t, e]) => ({
        route: `/v1/${t}`,
        body: JSON.stringify(e),
        headers: basic,
      })),
  );
}

/** Anything at all: any route, any bytes, any headers. */
function hostile(key: string): fc.Arbitrary<Case> {
  const body = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    event.map((e) => JSON.stringify({ ...e, api_key: key, writeKey: key })),
    fc.string({ unit: 'binary' }),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
    mixedBatch.map((b) => `data=${Buffer.from(JSON.stringify(b)).toString('base64')}`),
    mixedBatch.map((b) => JSON.stringify(b).slice(0, -3)),
  );
  const headers = fc.record(
    {
      authorization: fc.oneof(fc.constant(`Bearer ${key}`), fc.string(), fc.constant('Basic !!!')),
      'content-type': fc.constantFrom(
        'application/json',
        'text/plain',
        'application/x-www-form-urlencoded',
        'x/y',
      ),
      'content-encoding': fc.constantFrom('gzip', 'identity', 'br', 'deflate', 'compress'),
    },
    { requiredKeys: [] },
  );
  return fc.record({ route: fc.constantFrom(...ROUTES), body, headers });
}

describe('fuzz: malformed bodies at every ingest route', () => {
  let s: Running;
  const counter = { accepted: 0 };
  beforeAll(async () => {
    s = await startServerOn('sqlite', { rateLimit: false, maxEventBytes: 5000 }, (inner) =>
      countingStore(inner, counter),
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  it('never answers 5xx, never crashes, and stores nothing of a refused request', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(plausible(s.project.writeKey), hostile(s.project.writeKey)),
        async ({ route, body, headers }) => {
          const before = counter.accepted;
          const r = await post(`${s.url}${route}`, body, headers);
          expect(r.status, `${route} answered ${r.status}: ${r.text.slice(0, 200)}`).toBeLessThan(500);
          seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
          const stored = counter.accepted - before;
          if (r.status >= 300) expect(stored).toBe(0);
          if (route === '/ingest' && r.status === 202) {
            expect(stored).toBe(r.json.accepted);
            for (const x of r.json.rejected) expect(typeof x.error).toBe('string');
          }
          // Error answers name a kind and never echo the body back.
          if (r.status >= 400 && typeof body === 'string' && body.length > 40) {
            expect(r.text).not.toContain(body.slice(0, 40));
          }
        },
      ),
      { numRuns: 400 },
    );
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // The run reached both sides: requests that stored events and requests refused whole.
    const count = (lo: number, hi: number) =>
      [...seen].filter(([k]) => k >= lo && k < hi).reduce((a, [, n]) => a + n, 0);
    expect(count(200, 300)).toBeGreaterThan(20);
    expect(count(400, 500)).toBeGreaterThan(20);
    expect(counter.accepted).toBeGreaterThan(0);
  });
});
