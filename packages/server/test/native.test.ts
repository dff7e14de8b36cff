import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, post, STORE_KINDS, startServerOn, v7, type Running } from './harness.js';

describe.each(STORE_KINDS)('POST /ingest on %s', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('stores a batch and answers 202 with counts', async () => {
    const uuid = v7();
    const r = await post(
      `${s.url}/ingest`,
      { batch: [{ uuid, event: 'signup', distinct_id: 'u1', properties: { plan: 'pro' } }] },
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ accepted: 1, duplicates: 0, erased: 0, rejected: [] });
    const stored = await s.events({ event: 'signup' });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ uuid, distinctId: 'u1', properties: { plan: 'pro' } });
  });

  it('takes a bare array, and the key as api_key in the body', async () => {
    const a = await post(
      `${s.url}/ingest`,
      [{ event: 'arr', distinct_id: 'u2' }],
      bearer(s.project.writeKey),
    );
    expect(a.json).toMatchObject({ accepted: 1 });
    const b = await post(
      `${s.url}/ingest`,
      JSON.stringify({ api_key: s.project.writeKey, batch: [{ event: 'body-key', distinct_id: 'u2' }] }),
      { 'content-type': 'text/plain' },
    );
    expect(b.status).toBe(202);
    expect(await s.events({ event: 'body-key' })).toHaveLength(1);
  });

  it('resending the same batch gives duplicates, with or without uuids (exactly once)', async () => {
    const batch = [
      { uuid: v7(), event: 'once', distinct_id: 'u3' },
      {
        event: 'once',
        distinct_id: 'u3',
        timestamp: '2026-01-01T00:00:00.000Z',
        properties: { b: 1, a: [1, 2] },
      },
    ];
    const first = await post(`${s.url}/ingest`, batch, bearer(s.project.writeKey));
    expect(first.json).toEqual({ accepted: 2, duplicates: 0, erased: 0, rejected: [] });
    // Same content, keys in another order: still the same event.
    const again = [batch[0], { ...batch[1], properties: { a: [1, 2], b: 1 } }];
    const second = await post(`${s.url}/ingest`, again, bearer(s.project.writeKey));
    expect(second.json).toEqual({ accepted: 0, duplicates: 2, erased: 0, rejected: [] });
    expect(await s.events({ event: 'once' })).toHaveLength(2);
  });

  it('names invalid events by index and keeps the valid ones', async () => {
    const r = await post(
      `${s.url}/ingest`,
      [
        { event: 'ok', distinct_id: 'u4', uuid: v7() },
        { event: '', distinct_id: 'u4' },
        { event: 'x', distinct_id: 'u4', properties: [] },
        { event: 'x', distinct_id: 'u4', timestamp: 'yesterday' },
        'not an event',
      ],
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(1);
    expect(r.json.rejected.map((x: { index: number }) => x.index)).toEqual([1, 2, 3, 4]);
    expect(r.json.rejected[1].error).toMatch(/properties/);
    expect(await s.events({ event: 'x' })).toHaveLength(0);
  });

  it("takes JSON sent with curl -d's default form content type; without a key, 401", async () => {
    const body = JSON.stringify([{ event: 'curl-form', distinct_id: 'u4f' }]);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const r = await post(`${s.url}/ingest`, body, { ...form, ...bearer(s.project.writeKey) });
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ accepted: 1, rejected: [] });
    expect(await s.events({ event: 'curl-form' })).toHaveLength(1);
    const keyless = await post(`${s.url}/ingest`, body, form);
    expect(keyless.status).toBe(401);
  });

  it('refuses timestamps Date.parse would guess at, and keeps far-future ones at receive time', async () => {
    const loose = ['12', 'hello 5', 'Tuesday, 2020', '2026-02-30'];
    const future = ['+275760-09-13T00:00:00.000Z', 1e15];
    const r = await post(
      `${s.url}/ingest`,
      [...loose, ...future].map((timestamp) => ({ event: 'tscase', distinct_id: 'u4t', timestamp })),
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(2);
    expect(r.json.rejected).toEqual(
      loose.map((ts, index) => ({
        index,
        // A date-time of the right form but not of the calendar says which part is wrong.
        error: expect.stringMatching(
          ts === '2026-02-30'
            ? /^timestamp "2026-02-30" is not a date: 2026-02 has no day 30/
            : /^timestamp must be an ISO 8601/,
        ),
      })),
    );
    const stored = await s.events({ event: 'tscase' });
    expect(stored.map((e) => e.originalTimestamp).sort()).toEqual(
      ['+275760-09-13T00:00:00.000Z', new Date(1e15).toISOString()].sort(),
    );
    for (const e of stored) expect(e.timestamp).toBe(e.receivedAt);
  });

  it('corrects clock skew from sent_at and keeps the original timestamp', async () => {
    const now = Date.now();
    // The client's clock is one hour behind.
    const clientNow = now - 3_600_000;
    const original = new Date(clientNow - 10_000).toISOString();
    const r = await post(
      `${s.url}/ingest`,
      {
        batch: [{ event: 'skew', distinct_id: 'u5', timestamp: original }],
        sent_at: new Date(clientNow).toISOString(),
      },
      bearer(s.project.writeKey),
    );
    expect(r.json.accepted).toBe(1);
    const [e] = await s.events({ event: 'skew' });
    expect(e!.originalTimestamp).toBe(original);
    const corrected = Date.parse(e!.timestamp);
    // 10 s before the server received it, give or take the request's own transit.
    expect(corrected).toBeGreaterThan(now - 10_000 - 60_000);
    expect(corrected).toBeLessThanOrEqual(Date.parse(e!.receivedAt) - 10_000 + 1);
  });

  it('decodes gzip by header, by ?compression=gzip-js and by magic bytes', async () => {
    const body = gzipSync(JSON.stringify([{ event: 'gz', distinct_id: 'u6' }]));
    const h = { ...bearer(s.project.writeKey), 'content-type': 'application/json' };
    const a = await post(`${s.url}/ingest`, body, { ...h, 'content-encoding': 'gzip' });
    expect(a.status).toBe(202);
    const b = await post(
      `${s.url}/ingest?compression=gzip-js`,
      gzipSync(JSON.stringify([{ event: 'gz', distinct_id: 'u7' }])),
      h,
    );
    expect(b.status).toBe(202);
    const c = await post(
      `${s.url}/ingest`,
      gzipSync(JSON.stringify([{ event: 'gz', distinct_id: 'u8' }])),
      h,
    );
    expect(c.status).toBe(202);
    expect(await s.events({ event: 'gz' })).toHaveLength(3);
  });

  it('refuses bad requests with the right status and a short reason', async () => {
    const key = bearer(s.project.writeKey);
    const malformed = await post(`${s.url}/ingest`, '{"batch": [', key);
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toBe('malformed');
    expect((await post(`${s.url}/ingest`, { event: 'single' }, key)).status).toBe(400);
    expect((await post(`${s.url}/ingest`, '', key)).status).toBe(400);
    expect((await post(`${s.url}/ingest`, [{ event: 'a', distinct_id: 'b' }])).status).toBe(401);
    expect(
      (await post(`${s.url}/ingest`, [{ event: 'a', distinct_id: 'b' }], bearer('hw_nope'))).status,
    ).toBe(401);
    expect(
      (await post(`${s.url}/ingest`, [{ event: 'a', distinct_id: 'b' }], bearer(s.project.adminKey))).status,
    ).toBe(403);
    const enc = await post(`${s.url}/ingest`, '[]', { ...key, 'content-encoding': 'zstd-unknown' });
    expect(enc.status).toBe(415);
    const comp = await post(`${s.url}/ingest?compression=lz64`, '[]', key);
    expect(comp.status).toBe(415);
    const badGzip = await post(`${s.url}/ingest`, Buffer.from([0x1f, 0x8b, 1, 2, 3]), key);
    expect(badGzip.status).toBe(400);
    expect(await s.events({ event: 'a' })).toHaveLength(0);
  });
});
