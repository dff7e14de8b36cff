import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryClient } from './client.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

/**
 * `track()` reads clean properties in place instead of cloning them (TrackedEvents.readsInPlace):
 * the app's object must never be modified by the pipeline, and changing it after the call
 * must never change the event.
 */
describe('track(): the app’s properties object', () => {
  let sink: Sink;
  const clients: TelemetryClient[] = [];
  const client = (...args: Parameters<typeof clientFor>): TelemetryClient => {
    const c = clientFor(...args);
    clients.push(c);
    return c;
  };
  const sent = async (t: TelemetryClient) => {
    const result = await t.flush({ timeoutMs: 10_000 });
    expect(result.pending).toBe(0);
    return sinkEvents(sink);
  };

  beforeAll(async () => {
    sink = await Sink.start();
  });
  beforeEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 2_000 });
    sink.requests.length = 0;
    sink.handler = () => ({ status: 202, body: '{}' });
  });
  afterAll(async () => {
    for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 2_000 });
    await sink.down();
  });

  it('changing the object right after track() does not change the event', async () => {
    const t = client(sink, { distinctId: 'u1' });
    const props = { plan: 'pro', nested: { n: 1, list: [1, 2] } };
    t.track('a', props);
    props.plan = 'free';
    props.nested.n = 2;
    props.nested.list.push(3);
    const [e] = await sent(t);
    expect(e!.properties).toMatchObject({ plan: 'pro', nested: { n: 1, list: [1, 2] } });
  });

  it('field and pattern redaction never write to the app’s object', async () => {
    const t = client(sink, { distinctId: 'u1' });
    const props = {
      user: { password: 'hunter2', note: 'mail me at jane@example.com' },
      list: [{ token: 'abc' }],
      plain: 'nothing here',
    };
    const before = structuredClone(props);
    t.track('a', props);
    const [e] = await sent(t);
    expect(props).toEqual(before);
    expect(e!.properties.user).toEqual({ password: '[REDACTED]', note: 'mail me at [REDACTED]' });
    expect(e!.properties.list).toEqual([{ token: '[REDACTED]' }]);
    expect(e!.properties.plain).toBe('nothing here');
  });

  it('clean properties are sent as they are and PII among clean values is still redacted', async () => {
    const t = client(sink, { distinctId: 'u1' });
    const clean = { command: 'deploy', flags: ['--force'], target: { region: 'eu-west-1', replicas: 3 } };
    const mixed = { command: 'deploy', target: { region: 'eu-west-1', owner: 'ada@example.com' } };
    const before = structuredClone(mixed);
    for (let i = 0; i < 3; i++) {
      t.track('clean', clean);
      t.track('mixed', mixed);
    }
    const events = await sent(t);
    expect(events).toHaveLength(6);
    for (const e of events.filter((x) => x.event === 'clean')) expect(e.properties).toMatchObject(clean);
    for (const e of events.filter((x) => x.event === 'mixed')) {
      expect(e.properties).toMatchObject({
        command: 'deploy',
        target: { region: 'eu-west-1', owner: '[REDACTED]' },
      });
    }
    expect(mixed).toEqual(before);
  });

  it('a value cut for length is cut even when the rest is clean', async () => {
    const t = client(sink, { distinctId: 'u1', redaction: { patterns: { maxStringLength: 8 } } });
    t.track('a', { short: 'deploy', long: 'abcdefghijklmnop' });
    const [e] = await sent(t);
    expect(e!.properties.short).toBe('deploy');
    expect(e!.properties.long).toBe('abcdefgh…[truncated]');
  });

  it('the client’s own keys replace the app’s without deleting them from its object', async () => {
    const t = client(sink, { distinctId: 'u1' });
    const props = { $lib: 'mine', $session_id: 's', x: 1 };
    t.track('a', props);
    const [e] = await sent(t);
    expect(props).toEqual({ $lib: 'mine', $session_id: 's', x: 1 });
    expect(e!.properties.$lib).not.toBe('mine');
    expect(e!.properties.$session_id).not.toBe('s');
  });

  it('a custom redactor or beforeSend that writes in place works on a copy', async () => {
    const t = client(sink, {
      distinctId: 'u1',
      redaction: {
        custom: (p) => {
          (p.nested as Record<string, unknown>).seen = true;
          return p;
        },
      },
      beforeSend: (event) => {
        (event.properties.nested as Record<string, unknown>).hooked = true;
        return event;
      },
    });
    const props = { nested: { a: 1 } };
    t.track('a', props);
    const [e] = await sent(t);
    expect(props).toEqual({ nested: { a: 1 } });
    expect(e!.properties.nested).toEqual({ a: 1, seen: true, hooked: true });
  });

  it('keeps a "__proto__" key that JSON.parse made as a key of the event', async () => {
    const t = client(sink, { distinctId: 'u1', redaction: false });
    t.track(
      'a',
      JSON.parse('{"__proto__":{"polluted":1},"nested":{"__proto__":"x"}}') as Record<string, unknown>,
    );
    // A Date makes this one go through the clone.
    const withDate = JSON.parse('{"d":{"__proto__":{"p":1}}}') as Record<string, unknown>;
    withDate.when = new Date(0);
    t.track('b', withDate);
    const [a, b] = await sent(t);
    expect(Object.hasOwn(a!.properties, '__proto__')).toBe(true);
    expect(JSON.stringify(a!.properties)).toContain('"__proto__":{"polluted":1}');
    expect(JSON.stringify(b!.properties)).toContain('"d":{"__proto__":{"p":1}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('data that is not plain JSON is still cleaned (cycles, BigInt, Dates, undefined)', async () => {
    const t = client(sink, { distinctId: 'u1' });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    t.track('a', { cyclic, big: 10n, when: new Date(0), gone: undefined, n: Number.NaN });
    const [e] = await sent(t);
    expect(e!.properties).toMatchObject({
      cyclic: { a: 1, self: '[Circular]' },
      big: '10',
      when: '1970-01-01T00:00:00.000Z',
      n: null,
    });
    expect(Object.hasOwn(e!.properties, 'gone')).toBe(false);
    expect((await t.stats()).fixed).toBe(1);
  });
});
