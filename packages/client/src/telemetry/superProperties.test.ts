import { describe, expect, it } from 'vitest';
import { capturingClient, unreadableObject } from './telemetry.test-helpers.js';

describe('register() of what only looks like an object', () => {
  it('a Date or a Proxy that cannot be read is ignored with a warning, not spread into one property per character', async () => {
    const warnings: string[] = [];
    const { client, received } = capturingClient({
      logger: { debug() {}, warn: (message: string) => warnings.push(message), error() {} },
    });
    const unreadable = unreadableObject();
    client.register({ app: 'demo' });
    client.register(new Date(0) as unknown as Record<string, unknown>);
    client.register(unreadable);
    client.register(new Map([['m', 1]]) as unknown as Record<string, unknown>);
    client.track('ev');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const props = received[0]!.properties;
    expect(props.app).toBe('demo');
    expect(Object.keys(props).filter((k) => /^\d+$/.test(k))).toEqual([]);
    expect(
      warnings.filter((w) => w.startsWith('register ignored: super properties must be a plain object')),
    ).toHaveLength(2);
  });

  it('one call with more keys than maxProperties names every key it ignored, those past the cap too', async () => {
    const warnings: string[] = [];
    const { client, received } = capturingClient({
      logger: { debug() {}, warn: (message: string) => warnings.push(message), error() {} },
      propertyLimits: { maxProperties: 10 },
    });
    client.register({ a: 1, b: 2 });
    client.register(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, i])));
    client.track('ev');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const kept = Object.keys(received[0]!.properties).filter((k) => /^k\d+$/.test(k));
    expect(kept).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
    const warning = warnings.find((w) => w.includes('at most 10 super properties'));
    // 22 of the 30 keys were ignored: k8 and k9 by the merge, k10..k29 cut by the clone.
    expect(warning).toContain('ignored "k8", "k9", "k10", "k11", "k12" and 17 more');
  });

  it("reset() drops what register() added (the user who left's plan and org), keeping the superProperties option's", async () => {
    const { client, received } = capturingClient({ superProperties: { app: 'demo', env: 'prod' } });
    client.identify('alice');
    client.register({ plan: 'pro', org: 'alice-org', env: 'staging' });
    client.track('as.alice');
    client.reset();
    client.track('logged.out');
    client.identify('bob');
    client.track('as.bob');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const byName = new Map(received.map((e) => [e.event, e.properties]));
    expect(byName.get('as.alice')).toMatchObject({
      app: 'demo',
      env: 'staging',
      plan: 'pro',
      org: 'alice-org',
    });
    for (const name of ['logged.out', 'as.bob']) {
      const props = byName.get(name)!;
      expect(props).toMatchObject({ app: 'demo', env: 'prod' });
      expect(props).not.toHaveProperty('plan');
      expect(props).not.toHaveProperty('org');
    }
  });

  it('unregister() removes one super property, registered or from the option; a bad name is ignored with a warning', async () => {
    const warnings: string[] = [];
    const { client, received } = capturingClient({
      superProperties: { app: 'demo' },
      logger: { debug() {}, warn: (message: string) => warnings.push(message), error() {} },
    });
    client.register({ plan: 'pro', org: 'acme' });
    client.register(JSON.parse('{"__proto__":"own"}') as Record<string, unknown>);
    client.track('before');
    client.unregister('plan');
    client.unregister('app');
    client.unregister('never-registered');
    client.unregister('toString');
    client.unregister(42 as unknown as string);
    client.track('after');
    client.unregister('__proto__');
    client.track('last');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });
    const byName = new Map(received.map((e) => [e.event, e.properties]));
    expect(byName.get('before')).toMatchObject({ app: 'demo', plan: 'pro', org: 'acme' });
    const after = byName.get('after')!;
    expect(after.org).toBe('acme');
    expect(after).not.toHaveProperty('plan');
    expect(after).not.toHaveProperty('app');
    expect(Object.getOwnPropertyDescriptor(after, '__proto__')?.value).toBe('own');
    expect(Object.hasOwn(byName.get('last')!, '__proto__')).toBe(false);
    expect(warnings).toEqual(['unregister ignored: the name must be a string, got 42']);
  });
});
