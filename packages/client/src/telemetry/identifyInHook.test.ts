import { describe, expect, it } from 'vitest';
import type { HomingEvent } from '../event.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import type { TelemetryOptions } from './options.js';

/**
 * QA: an `identify()` made inside `beforeSend` or a redaction hook changed the id, but its
 * `$identify` was tracked inside the hook and so dropped as `rejected`: later events were
 * about a user the destination was never told of, and no trait reached it.
 */
async function run(
  options: (identify: (id: string, traits?: Record<string, unknown>) => void) => Partial<TelemetryOptions>,
  calls: (t: TelemetryClient) => Promise<void>,
) {
  const received: HomingEvent[] = [];
  const warnings: string[] = [];
  const drops: string[] = [];
  const client: { t?: TelemetryClient } = {};
  const t = createTelemetry({
    storage: 'memory',
    deliveryReport: false,
    endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
    logger: { debug() {}, warn: (message) => void warnings.push(message), error() {} },
    ...options((id, traits) => client.t?.identify(id, traits)),
  });
  client.t = t;
  t.on('drop', (d) => void drops.push(`${d.reason}: ${d.detail ?? ''}`));
  await calls(t);
  await t.shutdown({ timeoutMs: 3_000 });
  return { received, warnings, drops, stats: await t.stats() };
}

describe('identify() inside a hook', () => {
  it.each([
    [
      'beforeSend',
      (identify: (id: string, traits?: Record<string, unknown>) => void) => ({
        beforeSend: (e: HomingEvent) => {
          if (e.event === 'login') identify('user-1', { plan: 'pro' });
          return e;
        },
      }),
    ],
    [
      'redaction.custom',
      (identify: (id: string, traits?: Record<string, unknown>) => void) => ({
        redaction: {
          custom: (p: Record<string, unknown>) => {
            if (p.step === 'login') identify('user-1', { plan: 'pro' });
            return p;
          },
        },
      }),
    ],
  ])('%s: the id is taken and its $identify tracked once the hook returned', async (_hook, options) => {
    const r = await run(options, async (t) => {
      t.track('login', { step: 'login' });
      // The hook runs when the event is built: once the install id is read, in the first moments.
      await t.flush();
      t.track('purchase');
    });
    const identifies = r.received.filter((e) => e.event === '$identify');
    expect(identifies).toHaveLength(1);
    expect(identifies[0]!.distinct_id).toBe('user-1');
    expect(identifies[0]!.properties.$set).toEqual({ plan: 'pro' });
    // Linked to the install id the events before went out under.
    const login = r.received.find((e) => e.event === 'login')!;
    expect(identifies[0]!.properties.$anon_distinct_id).toBe(login.distinct_id);
    expect(r.received.find((e) => e.event === 'purchase')!.distinct_id).toBe('user-1');
    expect(r.drops).toEqual([]);
    expect(r.stats.tracked).toBe(3);
    expect(r.stats.sent).toBe(3);
  });

  it('one that identifies for every event, $identify too, ends: the one made for a held $identify is refused whole, warned once', async () => {
    const r = await run(
      (identify) => ({
        beforeSend: (e: HomingEvent) => {
          identify(e.event === '$identify' ? 'someone-else' : 'user-1', { plan: 'pro' });
          return e;
        },
      }),
      async (t) => {
        t.track('a');
        await t.flush();
        t.track('b');
      },
    );
    // Each held $identify is queued as the hook that made it returns: before the event it ran for.
    expect(r.received.map((e) => [e.event, e.distinct_id])).toEqual([
      ['$identify', 'user-1'],
      ['a', expect.not.stringMatching(/^user-1$/)],
      ['$identify', 'user-1'],
      ['b', 'user-1'],
    ]);
    // No half state: the refused one changed nothing (`someone-else` was never taken).
    expect(r.received.every((e) => e.distinct_id !== 'someone-else')).toBe(true);
    expect(r.warnings.filter((w) => w.startsWith('identify ignored: made inside beforeSend'))).toHaveLength(
      1,
    );
    expect(r.drops).toEqual([]);
  });
});

describe('identify() inside a hook, followed in the same hook by reset() or another identify()', () => {
  /** What the destination gets when `calls` run inside beforeSend (for 'trigger'), or outside any hook. */
  async function sent(calls: (t: TelemetryClient) => void, inHook: boolean) {
    const received: HomingEvent[] = [];
    const client: { t?: TelemetryClient } = {};
    const t = createTelemetry({
      storage: 'memory',
      deliveryReport: false,
      rememberConsent: false,
      endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
      logger: { debug() {}, warn() {}, error() {} },
      beforeSend: (e: HomingEvent) => {
        if (inHook && e.event === 'trigger') calls(client.t!);
        return e;
      },
    });
    client.t = t;
    t.track('warmup');
    await t.flush();
    if (inHook) t.track('trigger');
    else calls(t);
    await t.flush();
    t.track('later');
    await t.shutdown({ timeoutMs: 3_000 });
    const anonymous = received.find((e) => e.event === 'warmup')!.distinct_id;
    const later = received.find((e) => e.event === 'later')!.distinct_id;
    const name = (id: string) =>
      id === anonymous ? 'anonymous' : id === later && !['alice', 'bob'].includes(id) ? 'logged out' : id;
    return received
      .filter((e) => e.event === '$identify')
      .map((e) => ({
        distinct_id: name(e.distinct_id),
        $set: e.properties.$set,
        $anon_distinct_id: e.properties.$anon_distinct_id && name(String(e.properties.$anon_distinct_id)),
      }));
  }

  it('identify() then reset(): the $identify is alice’s, linked to the id before, not the logged-out one', async () => {
    const calls = (t: TelemetryClient) => {
      t.identify('alice', { plan: 'pro' });
      t.reset();
    };
    const inHook = await sent(calls, true);
    expect(inHook).toEqual([{ distinct_id: 'alice', $set: { plan: 'pro' }, $anon_distinct_id: 'anonymous' }]);
    expect(inHook).toEqual(await sent(calls, false));
  });

  it('identify() then identify(): each $identify is about its own id', async () => {
    const calls = (t: TelemetryClient) => {
      t.identify('alice', { plan: 'pro' });
      t.identify('bob', { plan: 'free' });
    };
    const inHook = await sent(calls, true);
    expect(inHook).toEqual([
      { distinct_id: 'alice', $set: { plan: 'pro' }, $anon_distinct_id: 'anonymous' },
      { distinct_id: 'bob', $set: { plan: 'free' }, $anon_distinct_id: undefined },
    ]);
    expect(inHook).toEqual(await sent(calls, false));
  });
});
