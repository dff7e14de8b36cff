import { PostHog } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Project } from '../src/store/store.js';
import { bearer, post, STORE_KINDS, startServerOn, type Running } from './harness.js';

const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`${key}:`).toString('base64')}` });

/**
 * A request that names two different write keys is refused (400, nothing stored in either
 * project), whichever places name them: picking one put a project's events into another.
 */
describe.each(STORE_KINDS)('two different write keys in one request (%s)', (kind) => {
  let s: Running;
  let other: Project;
  beforeAll(async () => {
    s = await startServerOn(kind);
    other = await s.store.createProject('other');
  });
  afterAll(async () => {
    await s?.close();
  });

  /** Events named `event` in either project. */
  async function storedAnywhere(event: string): Promise<number> {
    const here = await s.events({ event });
    const there = await s.store.queryEvents({ projectId: other.id, limit: 100, event });
    return here.length + there.length;
  }

  it('native: Bearer and api_key', async () => {
    const r = await post(
      `${s.url}/ingest`,
      { api_key: other.writeKey, batch: [{ event: 'native.two', distinct_id: 'k' }] },
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      error: 'malformed',
      message: "Authorization and the body's api_key carry different keys; send one",
    });
    expect(r.text).not.toContain(other.writeKey);
    expect(await storedAnywhere('native.two')).toBe(0);
  });

  it('PostHog: Bearer and api_key, in PostHog error shape', async () => {
    const r = await post(
      `${s.url}/batch/`,
      { api_key: other.writeKey, batch: [{ event: 'ph.two', distinct_id: 'k' }] },
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      type: 'validation_error',
      code: 'invalid_payload',
      detail: "Authorization and the body's api_key carry different keys; send one",
      attr: null,
    });
    expect(await storedAnywhere('ph.two')).toBe(0);
  });

  it("PostHog: a posthog-js array whose events carry two projects' tokens", async () => {
    const r = await post(`${s.url}/batch/`, [
      { event: 'ph.mixed', distinct_id: 'k', properties: { token: s.project.writeKey } },
      { event: 'ph.mixed', distinct_id: 'k', properties: { token: other.writeKey } },
    ]);
    expect(r.status).toBe(400);
    expect(r.json.detail).toBe(
      "event 0's properties.token and event 1's properties.token carry different keys; send one",
    );
    expect(await storedAnywhere('ph.mixed')).toBe(0);
  });

  it("PostHog: an event's own token against the batch's api_key, and a single event's two fields", async () => {
    const batch = await post(`${s.url}/batch/`, {
      api_key: s.project.writeKey,
      batch: [{ event: 'ph.own', distinct_id: 'k', token: other.writeKey }],
    });
    expect(batch.status).toBe(400);
    expect(batch.json.detail).toBe("the body's api_key and event 0's token carry different keys; send one");
    const single = await post(`${s.url}/capture/`, {
      event: 'ph.own',
      distinct_id: 'k',
      api_key: s.project.writeKey,
      $token: other.writeKey,
    });
    expect(single.status).toBe(400);
    expect(await storedAnywhere('ph.own')).toBe(0);
  });

  it('PostHog flags: Bearer and token', async () => {
    const r = await post(
      `${s.url}/flags/?v=2`,
      { token: other.writeKey, distinct_id: 'k' },
      bearer(s.project.writeKey),
    );
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'invalid_payload' });
  });

  it('Segment: Basic and writeKey', async () => {
    const r = await post(
      `${s.url}/v1/track`,
      { writeKey: other.writeKey, userId: 'k', event: 'seg.two' },
      basic(s.project.writeKey),
    );
    expect(r.status).toBe(400);
    expect(r.json).toEqual({
      success: false,
      error: 'malformed',
      message: "Authorization (Basic) and the body's writeKey carry different keys; send one",
    });
    expect(await storedAnywhere('seg.two')).toBe(0);
  });

  it('the same key in several places is one key', async () => {
    const key = s.project.writeKey;
    const native = await post(
      `${s.url}/ingest`,
      { api_key: key, batch: [{ event: 'same', distinct_id: 'k1' }] },
      bearer(key),
    );
    expect(native.status).toBe(202);
    const ph = await post(
      `${s.url}/batch/`,
      [
        { event: 'same', distinct_id: 'k2', properties: { token: key } },
        { event: 'same', distinct_id: 'k3', token: key, properties: { token: key } },
        // No key of its own: the others' key is the request's.
        { event: 'same', distinct_id: 'k4' },
      ],
      bearer(key),
    );
    expect(ph.status).toBe(200);
    const seg = await post(`${s.url}/v1/track`, { writeKey: key, userId: 'k5', event: 'same' }, basic(key));
    expect(seg.status).toBe(200);
    expect(await s.events({ event: 'same' })).toHaveLength(5);
  });

  it("an OAuth Bearer token beside Segment's writeKey is not a second key (analytics-node with OAuth)", async () => {
    const r = await post(
      `${s.url}/v1/track`,
      { writeKey: s.project.writeKey, userId: 'k', event: 'seg.oauth' },
      bearer('an-oauth-access-token'),
    );
    expect(r.status).toBe(200);
  });

  it("posthog-node's batch keeps an app's own `token` property: only api_key is its key", async () => {
    const client = new PostHog(s.project.writeKey, { host: s.url, flushAt: 1000, flushInterval: 0 });
    const errors: unknown[] = [];
    client.on('error', (e: unknown) => errors.push(e));
    client.capture({ distinctId: 'k', event: 'ph.push', properties: { token: 'a-device-push-token' } });
    await client.shutdown();
    expect(errors).toEqual([]);
    const stored = await s.events({ event: 'ph.push' });
    expect(stored.map((e) => e.properties.token)).toEqual(['a-device-push-token']);
  });
});
