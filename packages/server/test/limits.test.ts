import { request } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, failingInserts, post, startServerOn, v7, type Running } from './harness.js';

describe('body and event limits (SQLite)', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', {
      maxBodyBytes: 1_000_000,
      maxEventBytes: 10_000,
      maxPropertiesDepth: 8,
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('refuses a gzip bomb with 413 and keeps running', async () => {
    // 1 GB of zeros compresses to about 1 MB; 200 MB to ~200 KB, well under the raw limit.
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(1_000_000);
    const before = process.memoryUsage().rss;
    const r = await post(`${s.url}/ingest`, bomb, {
      ...bearer(s.project.writeKey),
      'content-encoding': 'gzip',
    });
    expect(r.status).toBe(413);
    expect(r.json.error).toBe('too-large');
    // The 200 MB were never held: far less than that was added to the process.
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    const after = await post(
      `${s.url}/ingest`,
      [{ event: 'alive', distinct_id: 'x' }],
      bearer(s.project.writeKey),
    );
    expect(after.status).toBe(202);
  });

  it('refuses a body over the limit with 413, by Content-Length and while streaming', async () => {
    const big = JSON.stringify([
      { event: 'big', distinct_id: 'x', properties: { s: 'y'.repeat(1_100_000) } },
    ]);
    const r = await post(`${s.url}/ingest`, big, bearer(s.project.writeKey));
    expect(r.status).toBe(413);
    // Chunked, no Content-Length: refused once the count passes the limit.
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${s.url}/ingest`);
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          headers: bearer(s.project.writeKey),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 40 && req.write(chunk)) sent++;
        if (sent < 40) req.once('drain', pump);
        else req.end();
      };
      pump();
    }).catch((err: unknown) => {
      // The server may close the connection before the client finished writing.
      if ((err as { code?: string }).code === 'EPIPE' || (err as { code?: string }).code === 'ECONNRESET')
        return 413;
      throw err;
    });
    expect(status).toBe(413);
    expect(await s.events({ event: 'big' })).toHaveLength(0);
  });

  it('refuses huge and deeply nested events one by one, keeping the rest', async () => {
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const ok = { uuid: v7(), event: 'fine', distinct_id: 'x' };
    const r = await post(
      `${s.url}/ingest`,
      [
        { event: 'huge', distinct_id: 'x', properties: { s: 'y'.repeat(20_000) } },
        ok,
        { event: 'deep', distinct_id: 'x', properties: deep },
        {
          event: 'wide',
          distinct_id: 'x',
          properties: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i])),
        },
      ],
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(1);
    expect(r.json.rejected).toEqual([
      { index: 0, error: expect.stringMatching(/larger than 10000/) },
      { index: 2, error: expect.stringMatching(/deeper than 8/) },
      { index: 3, error: expect.stringMatching(/larger than/) },
    ]);
    expect((await s.events()).map((e) => e.event).filter((e) => e !== 'alive')).toEqual(['fine']);
  });

  it('refuses a body nested a million levels deep as one event, not by crashing', async () => {
    const body = `[{"event":"d","distinct_id":"x","properties":${'['.repeat(100_000)}${']'.repeat(100_000)}}]`;
    const r = await post(`${s.url}/ingest`, body, bearer(s.project.writeKey));
    expect(r.status === 202 || r.status === 400).toBe(true);
    if (r.status === 202) expect(r.json.rejected).toHaveLength(1);
    expect(await s.events({ event: 'd' })).toHaveLength(0);
  });
});

describe('rate limit (token bucket per project)', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { rateLimit: { eventsPerSecond: 1, burst: 10 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('answers 429 with Retry-After once the bucket is empty, storing nothing of that request', async () => {
    const batch = (tag: string) =>
      Array.from({ length: 10 }, (_, i) => ({ event: tag, distinct_id: 'x', properties: { i } }));
    const first = await post(`${s.url}/ingest`, batch('first'), bearer(s.project.writeKey));
    expect(first.status).toBe(202);
    const second = await post(`${s.url}/ingest`, batch('second'), bearer(s.project.writeKey));
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await s.events({ event: 'second' })).toHaveLength(0);
  });

  it('a request answered 503 (the store failed) spends none of the rate, so its retry is not answered 429', async () => {
    const failing = { on: false };
    const f = await startServerOn(
      'sqlite',
      { rateLimit: { eventsPerSecond: 1, burst: 10 } },
      failingInserts(failing),
    );
    try {
      const batch = Array.from({ length: 10 }, (_, i) => ({
        event: 'retried',
        distinct_id: 'x',
        properties: { i },
      }));
      failing.on = true;
      expect((await post(`${f.url}/ingest`, batch, bearer(f.project.writeKey))).status).toBe(503);
      failing.on = false;
      const retry = await post(`${f.url}/ingest`, batch, bearer(f.project.writeKey));
      expect(retry.status).toBe(202);
      expect(await f.events({ event: 'retried' })).toHaveLength(10);
      // The bucket is still a bucket: the retry spent it.
      expect((await post(`${f.url}/ingest`, batch, bearer(f.project.writeKey))).status).toBe(429);
    } finally {
      await f.close();
    }
  });

  it('other projects have buckets of their own', async () => {
    const other = await s.store.createProject('other');
    const r = await post(`${s.url}/ingest`, [{ event: 'o', distinct_id: 'x' }], bearer(other.writeKey));
    expect(r.status).toBe(202);
  });
});

describe('events per request (maxBatchEvents)', () => {
  const basic = (key: string) => ({
    authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}`,
  });
  const events = (tag: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ event: tag, distinct_id: 'x', properties: { i } }));
  const messages = (tag: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({ type: 'track', event: tag, userId: 'x', properties: { i } }));
  // Each route's envelope, its key, and what it answers a stored batch.
  const routes = [
    {
      route: '/ingest',
      body: (tag: string, n: number) => events(tag, n),
      headers: (key: string) => bearer(key),
      ok: 202,
    },
    {
      route: '/batch/',
      body: (tag: string, n: number, key: string) => ({ api_key: key, batch: events(tag, n) }),
      headers: () => ({}),
      ok: 200,
    },
    {
      route: '/v1/batch',
      body: (tag: string, n: number) => ({ batch: messages(tag, n) }),
      headers: (key: string) => basic(key),
      ok: 200,
    },
  ];

  let s: Running;
  beforeAll(async () => {
    // The burst is below the batch: a refused batch must not have spent it.
    s = await startServerOn('sqlite', { maxBatchEvents: 5, rateLimit: { eventsPerSecond: 1, burst: 5 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it.each(routes)(
    '$route refuses more than maxBatchEvents events with 413, storing none of them',
    async (r) => {
      const tag = `over${r.route}`;
      const a = await post(
        `${s.url}${r.route}`,
        r.body(tag, 6, s.project.writeKey),
        r.headers(s.project.writeKey),
      );
      expect(a.status).toBe(413);
      const message = String(a.json.message ?? a.json.detail);
      expect(message).toMatch(/6 events is over the limit of 5 events per request/);
      expect(message).toMatch(/maxBatchEvents \(homing serve --max-batch-events\)/);
      if (r.route === '/batch/')
        expect(a.json).toMatchObject({ type: 'invalid_request', code: 'payload_too_large' });
      else expect(a.json.error).toBe('too-large');
      expect(await s.events({ event: tag })).toHaveLength(0);

      // Exactly the limit is taken, and the refused batch spent none of the project's rate.
      const project = await s.store.createProject(`exact${r.route}`);
      const refused = await post(
        `${s.url}${r.route}`,
        r.body(tag, 6, project.writeKey),
        r.headers(project.writeKey),
      );
      expect(refused.status).toBe(413);
      const exact = await post(
        `${s.url}${r.route}`,
        r.body(tag, 5, project.writeKey),
        r.headers(project.writeKey),
      );
      expect(exact.status).toBe(r.ok);
      const stored = await s.store.queryEvents({ projectId: project.id, event: tag, limit: 100 });
      expect(stored).toHaveLength(5);
    },
  );

  it('a small gzip body of millions of items is refused whole, with a short answer', async () => {
    const d = await startServerOn('sqlite');
    try {
      const zeros = `[${'0,'.repeat(2_000_000)}0]`;
      const body = gzipSync(zeros);
      expect(body.length).toBeLessThan(100_000);
      const r = await post(`${d.url}/ingest`, body, {
        ...bearer(d.project.writeKey),
        'content-encoding': 'gzip',
      });
      expect(r.status).toBe(413);
      expect(r.json).toEqual({
        error: 'too-large',
        message: expect.stringContaining('2000001 events is over the limit of 10000 events per request'),
      });
      // 10 000 (the default) invalid items are still answered, one reason each.
      const atLimit = await post(`${d.url}/ingest`, `[${'0,'.repeat(9_999)}0]`, bearer(d.project.writeKey));
      expect(atLimit.status).toBe(202);
      expect(atLimit.json.rejected).toHaveLength(10_000);
      expect(atLimit.json.rejected[9_999]).toEqual({ index: 9_999, error: 'event must be an object' });
    } finally {
      await d.close();
    }
  });
});

describe('per-event limits on the native and PostHog formats', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { maxEventBytes: 2000, maxPropertiesDepth: 4 });
  });
  afterAll(async () => {
    await s?.close();
  });

  // Objects down to level 4 of the properties (which are level 1), and one level more.
  const atLimit = { a: { b: { c: { leaf: 1 } } } };
  const overLimit = { a: atLimit };

  it('takes properties nested to maxPropertiesDepth and events under maxEventBytes; refuses more, by index', async () => {
    const batch = [
      { event: 'native.depth', distinct_id: 'n', properties: atLimit },
      { event: 'native.deep', distinct_id: 'n', properties: overLimit },
      { event: 'native.size', distinct_id: 'n', properties: { s: 'y'.repeat(1500) } },
      { event: 'native.big', distinct_id: 'n', properties: { s: 'y'.repeat(2000) } },
    ];
    const native = await post(`${s.url}/ingest`, batch, bearer(s.project.writeKey));
    expect(native.status).toBe(202);
    expect(native.json).toMatchObject({
      accepted: 2,
      rejected: [
        { index: 1, error: 'properties nested deeper than 4 levels' },
        { index: 3, error: 'event larger than 2000 bytes of JSON (UTF-8)' },
      ],
    });
    const posthog = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: batch.map((e) => ({ ...e, distinct_id: 'p' })),
    });
    expect(posthog.status).toBe(200);
    const stored = async (id: string) => (await s.events({ distinctId: id })).map((e) => e.event).sort();
    expect(await stored('n')).toEqual(['native.depth', 'native.size']);
    expect(await stored('p')).toEqual(['native.depth', 'native.size']);
  });

  it("PostHog's $set beside the properties is counted where it is stored, inside them", async () => {
    const r = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [
        { event: '$identify', distinct_id: 'set-deep', $set: atLimit },
        { event: '$identify', distinct_id: 'set-ok', $set: atLimit.a },
      ],
    });
    expect(r.status).toBe(200);
    expect(await s.events({ distinctId: 'set-deep' })).toEqual([]);
    const [ok] = await s.events({ distinctId: 'set-ok' });
    expect(ok!.properties.$set).toEqual(atLimit.a);
  });
});
