import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTHOG_FLAG_PATHS, POSTHOG_PATHS } from '../src/routes/posthog.js';
import { bearer, post, STORE_KINDS, startServerOn, v7, type Running } from './harness.js';

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

describe.each(STORE_KINDS)('PostHog feature flag routes (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  const noFlagsV2 = { flags: {}, errorsWhileComputingFlags: false, requestId: expect.any(String) };
  const noFlagsLegacy = {
    featureFlags: {},
    featureFlagPayloads: {},
    errorsWhileComputingFlags: false,
    requestId: expect.any(String),
  };

  it.each([
    ['/flags/?v=2', noFlagsV2],
    ['/flags?v=2&config=true', noFlagsV2],
    ['/flags/?v=3', noFlagsV2],
    ['/flags/', noFlagsLegacy],
    ['/flags/?v=1', noFlagsLegacy],
    ['/decide/?v=3', noFlagsLegacy],
    ['/decide?v=2', noFlagsLegacy],
    ['/decide/?v=4', noFlagsV2],
    ['/decide/?v=nonsense', noFlagsLegacy],
  ])('%s answers a project with no flags', async (path, expected) => {
    const r = await post(`${s.url}${path}`, { token: s.project.writeKey, distinct_id: 'f1', groups: {} });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    expect(r.json).toEqual(expected);
  });

  it('takes the key as api_key or Bearer, and posthog-js bodies: gzip-js, a base64 form, plain base64', async () => {
    const body = { distinct_id: 'f2', token: s.project.writeKey };
    expect(
      (await post(`${s.url}/decide/?v=3`, { api_key: s.project.writeKey, distinct_id: 'f2' })).status,
    ).toBe(200);
    expect((await post(`${s.url}/flags/?v=2`, { distinct_id: 7 }, bearer(s.project.writeKey))).json).toEqual(
      noFlagsV2,
    );
    const gz = await post(`${s.url}/flags/?v=2&compression=gzip-js`, gzipSync(JSON.stringify(body)), {
      'content-type': 'text/plain',
    });
    expect(gz.json).toEqual(noFlagsV2);
    const gzHeader = await post(`${s.url}/flags/?v=2`, gzipSync(JSON.stringify(body)), {
      'content-encoding': 'gzip',
    });
    expect(gzHeader.json).toEqual(noFlagsV2);
    const b64 = Buffer.from(JSON.stringify(body)).toString('base64');
    const form = await post(`${s.url}/decide/?v=3`, `data=${encodeURIComponent(b64)}`, {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.json).toEqual(noFlagsLegacy);
    const bare = await post(`${s.url}/decide/?v=3&compression=base64`, b64, { 'content-type': 'text/plain' });
    expect(bare.json).toEqual(noFlagsLegacy);
  });

  it('answers 401 without a key or for an unknown one, 403 for the admin key, and stores nothing', async () => {
    for (const path of POSTHOG_FLAG_PATHS) {
      const none = await post(`${s.url}${path}?v=2`, { distinct_id: 'f3' });
      expect(none.status).toBe(401);
      expect(none.json).toMatchObject({ error: 'missing-key' });
      const unknown = await post(`${s.url}${path}?v=2`, { token: 'phc_not_a_homing_key', distinct_id: 'f3' });
      expect(unknown.status).toBe(401);
      expect(unknown.json).toMatchObject({ error: 'unknown-key' });
      const admin = await post(`${s.url}${path}?v=2`, { token: s.project.adminKey, distinct_id: 'f3' });
      expect(admin.status).toBe(403);
    }
    expect(await s.events({ distinctId: 'f3' })).toEqual([]);
  });

  it('answers 400 with a reason for malformed bodies, and keeps serving', async () => {
    const key = s.project.writeKey;
    const bad: [string, unknown, Record<string, string>?][] = [
      ['/flags/?v=2', '{"token": "x", '],
      ['/flags/?v=2', ''],
      ['/flags/?v=2', [{ token: key, distinct_id: 'a' }]],
      ['/flags/?v=2', 'null'],
      ['/flags/?v=2', '"just a string"'],
      ['/flags/?v=2', { token: key }],
      ['/flags/?v=2', { token: key, distinct_id: '' }],
      ['/flags/?v=2', { token: key, distinct_id: { id: 1 } }],
      ['/decide/?v=3', { token: key, distinct_id: 'x'.repeat(1001) }],
      ['/decide/?v=3', 'data=%%%not-base64', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['/decide/?v=3&compression=gzip-js', 'not gzip at all', { 'content-type': 'text/plain' }],
    ];
    for (const [path, body, headers] of bad) {
      const r = await post(`${s.url}${path}`, body, headers);
      expect({ path, body, status: r.status }).toEqual({ path, body, status: 400 });
      expect(r.json).toMatchObject({ error: 'malformed', message: expect.any(String) });
    }
    const ok = await post(`${s.url}/flags/?v=2`, { token: key, distinct_id: 'after' });
    expect(ok.status).toBe(200);
  });
});
