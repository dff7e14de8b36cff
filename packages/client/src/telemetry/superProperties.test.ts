import { describe, expect, it } from 'vitest';
import { capturingClient } from './telemetry.test-helpers.js';

describe('register() of what only looks like an object', () => {
  it('a Date or a Proxy that cannot be read is ignored with a warning, not spread into one property per character', async () => {
    const warnings: string[] = [];
    const { client, received } = capturingClient({
      logger: { debug() {}, warn: (message: string) => warnings.push(message), error() {} },
    });
    const unreadable = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys');
        },
        get() {
          throw new Error('no get');
        },
        getOwnPropertyDescriptor() {
          throw new Error('no descriptor');
        },
        getPrototypeOf() {
          throw new Error('no prototype');
        },
      },
    );
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
});
