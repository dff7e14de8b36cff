import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function postRaw(s: IngestServer, path: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, json: (await res.json()) as unknown };
}

describe.each(BACKENDS)('numbers a double cannot hold, over HTTP (%s)', (backend) => {
  it('are stored as their digits on every format; two uuid-less events differing only there stay two', async () => {
    const s = await startIngestServer(backend, cleanups);
    const ts = '2026-12-01T10:00:00.000Z';
    const native = await postRaw(
      s,
      '/ingest',
      `[{"event":"order","distinct_id":"u1","timestamp":"${ts}","properties":{"order_id":1234567890123456789,"huge":1e400}},` +
        `{"event":"order","distinct_id":"u1","timestamp":"${ts}","properties":{"order_id":1234567890123456790,"huge":1e400}}]`,
      { authorization: `Bearer ${s.project.writeKey}` },
    );
    expect(native).toEqual({ status: 202, json: { accepted: 2, duplicates: 0, erased: 0, rejected: [] } });
    const posthog = await postRaw(
      s,
      '/batch/',
      `{"api_key":"${s.project.writeKey}","batch":[{"event":"ph","distinct_id":"u2","timestamp":"${ts}","properties":{"ns":1733050000123456789}}]}`,
    );
    expect(posthog.status).toBe(200);
    const segment = await postRaw(
      s,
      '/v1/track',
      `{"userId":"u3","event":"seg","timestamp":"${ts}","properties":{"id":-9223372036854775808,"ok":9007199254740991}}`,
      { authorization: `Basic ${Buffer.from(`${s.project.writeKey}:`).toString('base64')}` },
    );
    expect(segment.status).toBe(200);

    const orders = (await s.personEvents('u1')).map((e) => e.properties.order_id).sort();
    expect(orders).toEqual(['1234567890123456789', '1234567890123456790']);
    expect((await s.personEvents('u1'))[0]!.properties.huge).toBe('1e400');
    expect((await s.personEvents('u2'))[0]!.properties.ns).toBe('1733050000123456789');
    const seg = (await s.personEvents('u3'))[0]!.properties;
    expect(seg.id).toBe('-9223372036854775808');
    expect(seg.ok).toBe(9007199254740991);
  });
});
