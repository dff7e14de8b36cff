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
