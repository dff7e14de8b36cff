import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { startIngestServer, type IngestServer } from './adminApi.test-helpers.js';

/**
 * Every error answer of the Segment routes carries Segment's `success: false` beside Homing's
 * `{ error, message }`, whichever step refused the request; the other formats keep their shapes.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

async function raw(
  s: IngestServer,
  path: string,
  body: string | Buffer,
  headers: Record<string, string>,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: res.status, json: JSON.parse(await res.text()) };
}

const refusal = (error: string) => ({ success: false, error, message: expect.any(String) as string });

describe('Segment routes: error bodies', () => {
  it('malformed JSON, a wrong envelope, bad gzip, two keys, too large, bad encoding: success false', async () => {
    const s = await startIngestServer('sqlite', cleanups, { maxBodyBytes: 2000 });
    const auth = basic(s.project.writeKey);
    const cases: [string, string | Buffer, Record<string, string>, number, string][] = [
      ['/v1/batch', '{"batch":[', auth, 400, 'malformed'],
      ['/v1/batch', '{"batch":{}}', auth, 400, 'malformed'],
      ['/v1/track', '[1]', auth, 400, 'malformed'],
      [
        '/v1/b',
        gzipSync('{"batch":[]}').subarray(0, 12),
        { ...auth, 'content-encoding': 'gzip' },
        400,
        'malformed',
      ],
      ['/v1/t', '{"event":"e","userId":"u","writeKey":"other"}', auth, 400, 'malformed'],
      ['/v1/track', '{"event":"e","userId":"u"}', {}, 401, 'missing-key'],
      ['/v1/track', '{"event":"e","userId":"u"}', basic('hw_unknown'), 401, 'unknown-key'],
      ['/v1/track', '{"event":"e","userId":"u"}', basic(s.project.adminKey), 403, 'wrong-key-role'],
      ['/v1/batch', JSON.stringify({ batch: [{ pad: 'x'.repeat(3000) }] }), auth, 413, 'too-large'],
      ['/v1/batch', '{"batch":[]}', { ...auth, 'content-encoding': 'lz64' }, 415, 'unsupported-encoding'],
      ['/v1/track', '{"userId":"u"}', auth, 400, 'invalid-request'],
    ];
    for (const [path, body, headers, status, error] of cases) {
      const r = await raw(s, path, body, headers);
      expect({ path, status: r.status, json: r.json }).toEqual({ path, status, json: refusal(error) });
    }
  });

  it('a storage failure (503) says success false too, and a stored batch still success true', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const auth = basic(s.project.writeKey);
    const ok = await s.post('/v1/track', { event: 'e', userId: 'u' }, auth);
    expect(ok).toEqual({ status: 200, json: { success: true } });
    await s.store.close();
    const failed = await s.post('/v1/track', { event: 'e2', userId: 'u' }, auth);
    expect(failed).toEqual({ status: 503, json: refusal('storage-unavailable') });
  });

  it('a rate-limited request (429) says success false too', async () => {
    const s = await startIngestServer('sqlite', cleanups, { rateLimit: { eventsPerSecond: 1, burst: 1 } });
    const auth = basic(s.project.writeKey);
    const batch = {
      batch: [1, 2, 3].map((i) => ({ type: 'track', event: 'e', userId: 'u', messageId: `m${i}` })),
    };
    expect((await s.post('/v1/batch', batch, auth)).status).toBe(200);
    expect(await s.post('/v1/batch', batch, auth)).toEqual({ status: 429, json: refusal('rate-limited') });
  });

  it('a path or method under /v1/ that no route answers (404): success false too, and not elsewhere', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const auth = basic(s.project.writeKey);
    const typo = await raw(s, '/v1/trakc', '{"event":"e","userId":"u"}', auth);
    expect(typo).toEqual({ status: 404, json: refusal('not-found') });
    const get = await fetch(`${s.url}/v1/batch`, { headers: auth });
    expect({ status: get.status, json: await get.json() }).toEqual({
      status: 404,
      json: refusal('not-found'),
    });
    for (const root of ['/v1', '/v1?x=1', '/v1/']) {
      expect({ root, ...(await raw(s, root, '{}', auth)) }).toEqual({
        root,
        status: 404,
        json: refusal('not-found'),
      });
    }
    expect((await raw(s, '/v10/batch', '{}', auth)).json).not.toHaveProperty('success');
    const elsewhere = await raw(s, '/v2/batch', '{}', auth);
    expect(elsewhere).toEqual({ status: 404, json: { error: 'not-found', message: expect.any(String) } });
  });

  it('the native and PostHog routes keep their own error shapes', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    expect(await raw(s, '/ingest', '[', { authorization: `Bearer ${s.project.writeKey}` })).toEqual({
      status: 400,
      json: { error: 'malformed', message: expect.any(String) },
    });
    expect(await raw(s, '/batch/', '[', {})).toEqual({
      status: 400,
      json: { type: 'validation_error', code: expect.any(String), detail: expect.any(String), attr: null },
    });
  });
});
