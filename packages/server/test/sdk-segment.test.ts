import { Analytics } from '@segment/analytics-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_KINDS, startServerOn, type Running } from './harness.js';

describe.each(STORE_KINDS)('the real @segment/analytics-node sends to the server (%s)', (kind) => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn(kind);
  });
  afterAll(async () => {
    await s?.close();
  });

  it('track, identify, page, screen, group and alias arrive mapped onto Homing events', async () => {
    const analytics = new Analytics({
      writeKey: s.project.writeKey,
      host: s.url,
      flushAt: 100,
      flushInterval: 50,
    });
    const errors: unknown[] = [];
    analytics.on('error', (e) => errors.push(e));
    for (let i = 0; i < 10; i++)
      analytics.track({ userId: 'seg-user', event: 'Seg Clicked', properties: { i } });
    analytics.identify({ userId: 'seg-user', anonymousId: 'anon-1', traits: { plan: 'pro' } });
    analytics.page({ userId: 'seg-user', name: 'Pricing', properties: { url: 'https://x.example/pricing' } });
    analytics.screen({ anonymousId: 'anon-2', name: 'Home' });
    analytics.group({ userId: 'seg-user', groupId: 'acme', traits: { size: 10 } });
    analytics.alias({ userId: 'seg-user', previousId: 'anon-1' });
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);

    const tracked = await s.events({ event: 'Seg Clicked' });
    expect(tracked).toHaveLength(10);
    expect(tracked[0]!.distinctId).toBe('seg-user');
    expect(tracked[0]!.properties.$lib).toBe('@segment/analytics-node');
    const [identify] = await s.events({ event: '$identify' });
    expect(identify!.properties).toMatchObject({ $set: { plan: 'pro' }, $anon_distinct_id: 'anon-1' });
    const [page] = await s.events({ event: '$pageview' });
    expect(page!.properties).toMatchObject({ $name: 'Pricing', $current_url: 'https://x.example/pricing' });
    const [screen] = await s.events({ event: '$screen' });
    expect(screen).toMatchObject({ distinctId: 'anon-2', properties: { $screen_name: 'Home' } });
    const [group] = await s.events({ event: '$groupidentify' });
    expect(group!.properties).toMatchObject({ $group_key: 'acme', $group_set: { size: 10 } });
    const [alias] = await s.events({ event: '$create_alias' });
    expect(alias!.properties.alias).toBe('anon-1');
    // messageId became the uuid: every stored uuid is Segment's.
    expect(new Set(tracked.map((e) => e.uuid)).size).toBe(10);
  });
});
