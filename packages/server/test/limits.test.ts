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
