import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTHOG_FLAG_PATHS, POSTHOG_PATHS } from '../src/routes/posthog.js';
import { StoreError } from '../src/store/errors.js';
import type { Store } from '../src/store/store.js';
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
    expect(bad.json).toEqual({
      type: 'validation_error',
      code: 'invalid_payload',
      detail: expect.stringMatching(/^event 0: distinct_id/),
      attr: null,
    });
    const none = await post(`${s.url}/batch/`, { batch: [{ event: 'x', distinct_id: 'y' }] });
    expect(none.status).toBe(401);
    expect(await s.events({ event: 'x' })).toHaveLength(0);
  });

  it('corrects clock skew from sent_at and keeps the original timestamp', async () => {
    const now = Date.now();
    // The client's clock is one hour behind; the event happened 5 s before it was sent.
    const clientNow = now - 3_600_000;
    const original = new Date(clientNow - 5_000).toISOString();
    const r = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [{ event: 'ph.skew', distinct_id: 'p4', timestamp: original, uuid: v7() }],
      sent_at: new Date(clientNow).toISOString(),
    });
    expect(r.status).toBe(200);
    const [e] = await s.events({ event: 'ph.skew' });
    expect(e!.originalTimestamp).toBe(original);
    // 5 s before the server received it; the correction counts the request's transit as skew,
    // so the stored time is at most 5 s before receipt and not much earlier.
    const corrected = Date.parse(e!.timestamp);
    expect(corrected).toBeLessThanOrEqual(Date.parse(e!.receivedAt) - 5_000);
    expect(corrected).toBeGreaterThan(now - 5_000 - 10_000);
  });

  it("corrects posthog-js's clock skew from the _ query parameter, its send time", async () => {
    const now = Date.now();
    // posthog-js puts its own clock in each timestamp and its send time in `?_=`, not in the body.
    const clientNow = now + 3_600_000;
    const original = new Date(clientNow - 1_000).toISOString();
    const events = [
      { event: 'js.skew', timestamp: original, properties: { token: s.project.writeKey, distinct_id: 'p5' } },
    ];
    const r = await post(
      `${s.url}/e/?ip=0&_=${clientNow}&ver=1.200.0&compression=gzip-js`,
      gzipSync(JSON.stringify(events)),
      { 'content-type': 'text/plain' },
    );
    expect(r.status).toBe(200);
    const [e] = await s.events({ event: 'js.skew' });
    expect(e!.originalTimestamp).toBe(original);
    const corrected = Date.parse(e!.timestamp);
    expect(corrected).toBeLessThanOrEqual(Date.parse(e!.receivedAt) - 1_000);
    expect(corrected).toBeGreaterThan(now - 1_000 - 10_000);
  });

  it('ignores a _ query parameter that is not epoch ms, and prefers sent_at in the body', async () => {
    const original = new Date(Date.now() - 60_000).toISOString();
    const r = await post(`${s.url}/batch/?_=yesterday`, {
      api_key: s.project.writeKey,
      batch: [{ event: 'ph.badquery', distinct_id: 'p6', timestamp: original, uuid: v7() }],
    });
    expect(r.status).toBe(200);
    const [e] = await s.events({ event: 'ph.badquery' });
    expect(e!.timestamp).toBe(original);
    const sentAt = new Date(Date.now() - 3_600_000).toISOString();
    const both = await post(`${s.url}/batch/?_=${Date.now()}`, {
      api_key: s.project.writeKey,
      batch: [{ event: 'ph.bothsent', distinct_id: 'p6', timestamp: sentAt, uuid: v7() }],
      sent_at: sentAt,
    });
    expect(both.status).toBe(200);
    const [b] = await s.events({ event: 'ph.bothsent' });
    // Corrected by the body's hour, not left as sent as the query's "now" would have it.
    expect(Date.parse(b!.timestamp)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('merges $set and $set_once beside properties with the ones inside, the top level winning', async () => {
    const r = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [
        {
          event: 'ph.setmerge',
          distinct_id: 'p7',
          uuid: v7(),
          properties: { $set: { tier: 'gold', plan: 'free' }, $set_once: { first_seen: '2026-01-01' } },
          $set: { plan: 'pro' },
          $set_once: { $initial_referrer: '$direct' },
        },
        {
          event: 'ph.setreplace',
          distinct_id: 'p7',
          uuid: v7(),
          properties: { $set: 'not an object' },
          $set: { plan: 'pro' },
        },
      ],
    });
    expect(r.status).toBe(200);
    const [merged] = await s.events({ event: 'ph.setmerge' });
    expect(merged!.properties.$set).toEqual({ tier: 'gold', plan: 'pro' });
    expect(merged!.properties.$set_once).toEqual({ first_seen: '2026-01-01', $initial_referrer: '$direct' });
    const [replaced] = await s.events({ event: 'ph.setreplace' });
    expect(replaced!.properties.$set).toEqual({ plan: 'pro' });
  });

  it('keeps the timestamp of an event marked $ignore_sent_at (an import) as sent', async () => {
    const day = 86_400_000;
    const imported = new Date(Date.now() - 10 * day).toISOString();
    const live = new Date(Date.now() - 10 * day).toISOString();
    const r = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [
        {
          event: 'ph.imported',
          distinct_id: 'p8',
          timestamp: imported,
          uuid: v7(),
          properties: { $ignore_sent_at: true },
        },
        { event: 'ph.live', distinct_id: 'p8', timestamp: live, uuid: v7() },
      ],
      sent_at: new Date(Date.now() - 5 * day).toISOString(),
    });
    expect(r.status).toBe(200);
    const [i] = await s.events({ event: 'ph.imported' });
    expect(i!.timestamp).toBe(imported);
    // The same batch's other event is corrected by the five days between sent_at and receipt.
    const [l] = await s.events({ event: 'ph.live' });
    expect(Date.parse(l!.timestamp)).toBeGreaterThan(Date.now() - 5 * day - 60_000);
  });
});

/** Wraps a store so insertEvents fails while `failing` is set. */
function failingInserts(inner: Store, state: { failing: boolean }): Store {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'insertEvents' && state.failing) {
        return async () => {
          throw new StoreError('storage', 'disk I/O error (injected)');
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

describe('PostHog capture limits and errors', () => {
  const maxEventBytes = 2000;
  const burst = 20;
  let s: Running;
  const state = { failing: false };
  beforeAll(async () => {
    s = await startServerOn(
      'sqlite',
      { maxEventBytes, maxBodyBytes: 50_000, rateLimit: { eventsPerSecond: 1, burst } },
      (inner) => failingInserts(inner, state),
    );
  });
  afterAll(async () => {
    await s?.close();
  });

  const oversized = (event: string) => ({
    api_key: s.project.writeKey,
    event,
    distinct_id: 'big',
    uuid: v7(),
    properties: { blob: 'x'.repeat(maxEventBytes) },
  });

  it.each(['/capture/', '/e/', '/i/v0/e/', '/track/'])(
    '%s answers 413 naming the limit when its one event is over maxEventBytes',
    async (path) => {
      const r = await post(`${s.url}${path}`, oversized(`big${path}`));
      expect(r.status).toBe(413);
      expect(r.json).toEqual({
        type: 'invalid_request',
        code: 'payload_too_large',
        detail: expect.stringContaining(`${maxEventBytes} bytes`),
        attr: null,
      });
      expect(r.json.detail).toMatch(/maxEventBytes/);
      expect(await s.events({ event: `big${path}` })).toEqual([]);
    },
  );

  it('a batch with one oversized event stores the rest and answers 200', async () => {
    const r = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [oversized('batch.big'), { event: 'batch.small', distinct_id: 'p5', uuid: v7() }],
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: 1 });
    expect(await s.events({ event: 'batch.small' })).toHaveLength(1);
    expect(await s.events({ event: 'batch.big' })).toEqual([]);
  });

  it('a one-event body refused for another reason is still a 400', async () => {
    const r = await post(`${s.url}/capture/`, { api_key: s.project.writeKey, distinct_id: 'p6' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ type: 'validation_error', code: 'invalid_payload' });
  });

  const event = () => ({ event: 'err.case', distinct_id: 'p7', uuid: v7() });

  it("answers 401 and 403 in PostHog's shape", async () => {
    const missing = await post(`${s.url}/capture/`, event());
    expect(missing.status).toBe(401);
    expect(missing.json).toEqual({
      type: 'authentication_error',
      code: 'missing_api_key',
      detail: expect.stringContaining('no write key'),
      attr: null,
    });
    const unknown = await post(`${s.url}/e/`, { ...event(), api_key: 'phc_not_a_homing_key' });
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual({
      type: 'authentication_error',
      code: 'invalid_api_key',
      detail: 'unknown write key',
      attr: null,
    });
    const admin = await post(`${s.url}/batch/`, { api_key: s.project.adminKey, batch: [event()] });
    expect(admin.status).toBe(403);
    expect(admin.json).toMatchObject({ type: 'authentication_error', code: 'permission_denied', attr: null });
  });

  it("answers 413 for a body over maxBodyBytes and 415 for an unknown encoding in PostHog's shape", async () => {
    const big = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: Array.from({ length: 40 }, () => ({ ...event(), properties: { pad: 'y'.repeat(1500) } })),
    });
    expect(big.status).toBe(413);
    expect(big.json).toEqual({
      type: 'invalid_request',
      code: 'payload_too_large',
      detail: expect.stringContaining('50000 bytes'),
      attr: null,
    });
    const lz = await post(`${s.url}/e/?compression=lz64`, 'N4Ig', { 'content-type': 'text/plain' });
    expect(lz.status).toBe(415);
    expect(lz.json).toMatchObject({ type: 'invalid_request', code: 'unsupported_media_type', attr: null });
    expect(await s.events({ event: 'err.case' })).toEqual([]);
  });

  it("answers 503 for a storage failure in PostHog's shape, with Retry-After", async () => {
    state.failing = true;
    try {
      const r = await post(`${s.url}/i/v0/e/`, { ...event(), api_key: s.project.writeKey });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(r.json).toEqual({
        type: 'server_error',
        code: 'server_error',
        detail: expect.stringContaining('retry later'),
        attr: null,
      });
    } finally {
      state.failing = false;
    }
  });

  // Last: it empties the project's token bucket.
  // posthog-js resends a batch answered 5xx, after Retry-After, and drops one answered 4xx.
  it("answers the rate limit 503 in PostHog's shape, with Retry-After, so posthog-js sends it again", async () => {
    // A batch costs its size: a full burst passes a full bucket only, and then empties it (the
    // tests above took some tokens, refilling at one a second).
    const fullBurst = () => ({ api_key: s.project.writeKey, batch: Array.from({ length: burst }, event) });
    let r = await post(`${s.url}/batch/`, fullBurst());
    if (r.status === 200) r = await post(`${s.url}/batch/`, fullBurst());
    expect(r.status).toBe(503);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.json).toEqual({
      type: 'throttled_error',
      code: 'throttled',
      detail: expect.stringContaining('rate limit'),
      attr: null,
    });
  });

  it("native and Segment routes keep Homing's error body", async () => {
    const native = await post(`${s.url}/ingest`, [event()]);
    expect(native.status).toBe(401);
    expect(native.json).toEqual({ error: 'missing-key', message: expect.any(String) });
    const segment = await post(`${s.url}/v1/track`, { event: 'x', userId: 'u' });
    expect(segment.status).toBe(401);
    expect(segment.json).toEqual({ success: false, error: 'missing-key', message: expect.any(String) });
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

  it('answers 401 without a key or for an unknown one, 403 for the admin key, 415 for lz64, in PostHog shape, and stores nothing', async () => {
    for (const path of POSTHOG_FLAG_PATHS) {
      const none = await post(`${s.url}${path}?v=2`, { distinct_id: 'f3' });
      expect(none.status).toBe(401);
      expect(none.json).toEqual({
        type: 'authentication_error',
        code: 'missing_api_key',
        detail: expect.any(String),
        attr: null,
      });
      const unknown = await post(`${s.url}${path}?v=2`, { token: 'phc_not_a_homing_key', distinct_id: 'f3' });
      expect(unknown.status).toBe(401);
      expect(unknown.json).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
      const admin = await post(`${s.url}${path}?v=2`, { token: s.project.adminKey, distinct_id: 'f3' });
      expect(admin.status).toBe(403);
      expect(admin.json).toMatchObject({ type: 'authentication_error', code: 'permission_denied' });
      const lz = await post(`${s.url}${path}?v=2&compression=lz64`, 'abc', { 'content-type': 'text/plain' });
      expect(lz.status).toBe(415);
      expect(lz.json).toMatchObject({ type: 'invalid_request', code: 'unsupported_media_type' });
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
      expect(r.json).toEqual({
        type: 'validation_error',
        code: 'invalid_payload',
        detail: expect.any(String),
        attr: null,
      });
      expect(r.json.detail.length).toBeGreaterThan(5);
    }
    const ok = await post(`${s.url}/flags/?v=2`, { token: key, distinct_id: 'after' });
    expect(ok.status).toBe(200);
  });
});
