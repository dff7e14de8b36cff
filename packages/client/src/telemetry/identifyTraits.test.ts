import { describe, expect, it } from 'vitest';
import { capturingClient, unreadableObject } from './telemetry.test-helpers.js';

describe('identify() traits that are not a plain object', () => {
  it('are ignored with a warning (the id is still used), never sent as $set', async () => {
    const warnings: string[] = [];
    const { client, received } = capturingClient({
      logger: { debug() {}, warn: (message: string) => warnings.push(message), error() {} },
    });
    const unreadable = unreadableObject();
    const bad: unknown[] = [['admin', 'beta'], new Date(0), 'vip', 5, true, unreadable];
    bad.forEach((traits, i) => client.identify(`user-${i}`, traits as Record<string, unknown>));
    client.identify('user-ok', { plan: 'pro', signup: new Date(0) });
    client.identify('user-null', null as unknown as Record<string, unknown>);
    client.track('after');
    await client.flush({ timeoutMs: 5_000 });
    await client.shutdown({ timeoutMs: 1_000 });

    const identifies = received.filter((e) => e.event === '$identify');
    expect(identifies.map((e) => e.distinct_id)).toEqual([
      ...bad.map((_, i) => `user-${i}`),
      'user-ok',
      'user-null',
    ]);
    for (const e of identifies.slice(0, bad.length)) expect(e.properties.$set).toEqual({});
    expect(identifies[bad.length]!.properties.$set).toEqual({
      plan: 'pro',
      signup: '1970-01-01T00:00:00.000Z',
    });
    expect(identifies.at(-1)!.properties.$set).toEqual({});
    expect(received.at(-1)!.distinct_id).toBe('user-null');
    const traitWarnings = warnings.filter((w) => w.startsWith('identify: its traits must be a plain object'));
    expect(traitWarnings).toHaveLength(bad.length);
    expect(traitWarnings[0]).toContain('got an array');
    expect(traitWarnings[1]).toContain('got a Date');
    expect(traitWarnings[2]).toContain('got string');
  });
});
