import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, failingInserts, post, startServerOn, type Running } from './harness.js';

describe('logs carry no event content and no key', () => {
  let s: Running;
  let logs = '';
  const failing = { on: false };
  beforeAll(async () => {
    const stream = new Writable({
      write(chunk, _enc, done) {
        logs += String(chunk);
        done();
      },
    });
    s = await startServerOn(
      'sqlite',
      { logger: { level: 'trace', stream }, maxBodyBytes: 100_000 },
      failingInserts(failing, 'disk full (injected)'),
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  it('at trace level, through accepted, refused, malformed, oversized and failed requests', async () => {
    const SECRET = 'PERSONAL-4b1d-secret';
    const key = s.project.writeKey;
    const event = {
      event: `e-${SECRET}`,
      distinct_id: `user-${SECRET}`,
      properties: { email: `${SECRET}@example.com` },
    };
    expect((await post(`${s.url}/ingest`, [event], bearer(key))).status).toBe(202);
    expect((await post(`${s.url}/ingest`, [{ ...event, properties: [SECRET] }], bearer(key))).status).toBe(
      202,
    );
    expect((await post(`${s.url}/ingest`, `[{"event":"${SECRET}",`, bearer(key))).status).toBe(400);
    expect((await post(`${s.url}/ingest`, [event], bearer(`hw_${SECRET}`))).status).toBe(401);
    expect((await post(`${s.url}/batch/`, { api_key: key, batch: [{ event: SECRET }] })).status).toBe(400);
    const big = gzipSync(JSON.stringify([{ ...event, properties: { pad: SECRET.repeat(10_000) } }]));
    expect((await post(`${s.url}/ingest`, big, { ...bearer(key), 'content-encoding': 'gzip' })).status).toBe(
      413,
    );
    failing.on = true;
    expect((await post(`${s.url}/ingest`, [event], bearer(key))).status).toBe(503);
    failing.on = false;

    expect(logs).toContain('ingest request refused');
    expect(logs).toContain('storage failed; answered 503');
    expect(logs).not.toContain(SECRET);
    expect(logs).not.toContain(key);
  });
});
