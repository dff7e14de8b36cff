import { PostHog } from 'posthog-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, startServerOn, type Running } from './harness.js';

describe.each(STORE_KINDS)('the real posthog-node sends to the server (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('captures, identifies and aliases with nothing but host changed (gzip on, as by default)', async () => {
    const client = new PostHog(s.project.writeKey, { host: s.url, flushAt: 1000, flushInterval: 0 });
    const errors: unknown[] = [];
    client.on('error', (e: unknown) => errors.push(e));
    for (let i = 0; i < 25; i++) {
      client.capture({ distinctId: 'ph-user', event: 'ph.clicked', properties: { i, nested: { ok: true } } });
    }
    client.identify({ distinctId: 'ph-user', properties: { email: 'a@example.com' } });
    client.alias({ distinctId: 'ph-user', alias: 'ph-old' });
    await client.shutdown();
    expect(errors).toEqual([]);
    const clicked = await s.events({ event: 'ph.clicked' });
    expect(clicked).toHaveLength(25);
    expect(clicked.map((e) => e.properties.i).sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 25 }, (_, i) => i),
    );
    expect(clicked[0]!.distinctId).toBe('ph-user');
    expect(clicked[0]!.properties.$lib).toBe('posthog-node');
    const identify = await s.events({ event: '$identify' });
    expect(identify[0]!.properties.$set).toEqual({ email: 'a@example.com' });
    expect(await s.events({ event: '$create_alias' })).toHaveLength(1);
  });

  it('a resend of what posthog-node sent (same uuids) stores nothing twice', async () => {
    const client = new PostHog(s.project.writeKey, { host: s.url, flushAt: 1000, flushInterval: 0 });
    const uuid = '0193a5c0-0000-7000-8000-00000000abcd';
    client.capture({ distinctId: 'ph-2', event: 'ph.once', uuid });
    await client.flush();
    client.capture({ distinctId: 'ph-2', event: 'ph.once', uuid });
    await client.shutdown();
    expect(await s.events({ event: 'ph.once' })).toHaveLength(1);
  });

  it('reads feature flags from /flags: no flags, no error, and the $feature_flag_called event says the flag is missing', async () => {
    const client = new PostHog(s.project.writeKey, { host: s.url, flushAt: 1000, flushInterval: 0 });
    const errors: unknown[] = [];
    client.on('error', (e: unknown) => errors.push(e));
    expect(await client.getAllFlags('ph-flags')).toEqual({});
    expect(await client.getAllFlagsAndPayloads('ph-flags')).toEqual({
      featureFlags: {},
      featureFlagPayloads: {},
    });
    // A flag the project does not have: undefined, as PostHog answers, and no error (a failed
    // request would emit one and mark the event below unknown_error instead of flag_missing).
    expect(await client.isFeatureEnabled('new-checkout', 'ph-flags')).toBeUndefined();
    expect(await client.getFeatureFlag('new-checkout', 'ph-flags')).toBeUndefined();
    expect(await client.getFeatureFlagPayload('new-checkout', 'ph-flags')).toBeUndefined();
    await client.shutdown();
    expect(errors).toEqual([]);
    const called = await s.events({ event: '$feature_flag_called' });
    expect(called).toHaveLength(1);
    expect(called[0]!.properties).toMatchObject({
      $feature_flag: 'new-checkout',
      $feature_flag_error: 'flag_missing',
      $feature_flag_request_id: expect.any(String),
    });
  });

  it('a wrong key makes flag reads fail as they would against PostHog, with an error and no flags', async () => {
    const client = new PostHog('phc_unknown', { host: s.url, flushAt: 1000, flushInterval: 0 });
    const errors: unknown[] = [];
    client.on('error', (e: unknown) => errors.push(e));
    expect(await client.getAllFlags('ph-flags')).toEqual({});
    expect(await client.isFeatureEnabled('other-flag', 'ph-flags-2')).toBeUndefined();
    await client.shutdown();
    expect(errors.length).toBeGreaterThan(0);
    expect(await s.events({ distinctId: 'ph-flags-2' })).toEqual([]);
  });
});
