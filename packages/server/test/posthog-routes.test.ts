import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTHOG_PATHS } from '../src/routes/posthog.js';
import { post, STORE_KINDS, startServerOn, v7, type Running } from './harness.js';

describe.each(STORE_KINDS)('PostHog capture routes (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it.each(POSTHOG_PATHS.flatMap((p) => [p, p.slice(0, -1)]))(
    '%s takes { api_key, batch } and answers {"status":1}',
    async (path) => {
      const r = await post(`${s.url}${path}`, {
        api_key: s.project.writeKey,
        batch: [{ event: `ph${path}`, distinct_id: 'p1', properties: { a: 1 }, uuid: v7() }],
        sent_at: new Date().toISOString(),
      });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ status: 1 });
      expect(await s.events({ event: `ph${path}` })).toHaveLength(1);
    },
  );

  it('takes posthog-js shapes: a gzip-js array with properties.token, and a base64 beacon form', async () => {
    const events = [
      { event: 'js.click', properties: { token: s.project.writeKey, distinct_id: 'p2', $current_url: '/' } },
    ];
    const a = await post(`${s.url}/e/?compression=gzip-js&ver=1.0`, gzipSync(JSON.stringify(events)), {
      'content-type': 'text/plain',
    });
    expect(a.status).toBe(200);
    const beacon = `data=${encodeURIComponent(
      Buffer.from(
        JSON.stringify([
          { event: 'js.beacon', properties: { token: s.project.writeKey, distinct_id: 'p2' } },
        ]),
      ).toString('base64'),
    )}`;
    const b = await post(`${s.url}/e/?compression=base64`, beacon, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(b.status).toBe(200);
    const [click] = await s.events({ event: 'js.click' });
    expect(click!.distinctId).toBe('p2');
    expect(await s.events({ event: 'js.beacon' })).toHaveLength(1);
  });

  it('takes a single event with api_key and $set beside properties', async () => {
    const r = await post(`${s.url}/capture/`, {
      api_key: s.project.writeKey,
      event: '$identify',
      distinct_id: 'p3',
      $set: { email: 'p3@example.com' },
    });
    expect(r.status).toBe(200);
    const [e] = await s.events({ distinctId: 'p3' });
    expect(e!.properties.$set).toEqual({ email: 'p3@example.com' });
  });

  it('answers 400 when every event is invalid, 401 without a key', async () => {
    const bad = await post(`${s.url}/capture/`, { api_key: s.project.writeKey, event: 'no-distinct-id' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ type: 'validation_error' });
    const none = await post(`${s.url}/batch/`, { batch: [{ event: 'x', distinct_id: 'y' }] });
    expect(none.status).toBe(401);
    expect(await s.events({ event: 'x' })).toHaveLength(0);
  });
});
