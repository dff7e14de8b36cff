import { beforeEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { Sampler } from '../pipeline/sampling.js';
import { clientFor, Sink, sinkEvents, sinkForSuite, until } from './telemetry.test-helpers.js';
import { LIB_NAME, LIB_VERSION } from './version.js';
import type { TelemetryClient } from './client.js';
import type { HomingEvent } from '../event.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createTelemetry: the client API', () => {
  let sink: Sink;
  const clients: TelemetryClient[] = [];
  const client = (...args: Parameters<typeof clientFor>): TelemetryClient => {
    const c = clientFor(...args);
    clients.push(c);
    return c;
  };

  sinkForSuite(clients, (s) => (sink = s));
  beforeEach(() => {
    sink.handler = () => ({ status: 202, body: '{}' });
  });

  it('enriches each event: UUIDv7, ISO timestamp, install id, session, lib, super properties', async () => {
    const t = client(sink, { superProperties: { app: 'demo', plan: 'free' } });
    t.track('cli.started', { plan: 'pro', args: 3 });
    t.track('cli.finished');
    const result = await t.flush({ timeoutMs: 10_000 });
    expect(result.sent).toBe(2);
    const [a, b] = sinkEvents(sink);
    expect(a!.uuid).toMatch(UUID_V7);
    expect(b!.uuid > a!.uuid).toBe(true);
    expect(new Date(a!.timestamp).toISOString()).toBe(a!.timestamp);
    expect(a!.distinct_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(b!.distinct_id).toBe(a!.distinct_id);
    expect(a!.properties).toMatchObject({
      app: 'demo',
      plan: 'pro',
      args: 3,
      $lib: LIB_NAME,
      $lib_version: LIB_VERSION,
    });
    expect(a!.properties.$session_id).toMatch(UUID_V7);
    expect(b!.properties.$session_id).toBe(a!.properties.$session_id);
    expect(b!.properties.plan).toBe('free');
  });

  it('rotates $session_id after sessionIdleMs without events', async () => {
    const start = Date.now() - 3_600_000;
    let now = start;
    const t = client(sink, { sessionIdleMs: 60_000, now: () => now });
    t.track('a');
    now += 59_000;
    t.track('b');
    now += 60_000;
    t.track('c');
    await t.flush({ timeoutMs: 10_000 });
    const [a, b, c] = sinkEvents(sink).map((e) => e.properties.$session_id);
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(sinkEvents(sink)[0]!.timestamp).toBe(new Date(start).toISOString());
  });

  it('identify: later events carry the id, $identify links the anonymous one and sets traits', async () => {
    const t = client(sink);
    t.track('before');
    t.identify('user-42', { plan: 'team' });
    t.track('after');
    await t.flush({ timeoutMs: 10_000 });
    const [before, identify, after] = sinkEvents(sink);
    expect(identify!.event).toBe('$identify');
    expect(identify!.distinct_id).toBe('user-42');
    expect(identify!.properties.$anon_distinct_id).toBe(before!.distinct_id);
    expect(identify!.properties.$set).toEqual({ plan: 'team' });
    expect(after!.distinct_id).toBe('user-42');
    t.identify('' as string);
    t.identify(42 as unknown as string);
    t.track('still');
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).at(-1)!.distinct_id).toBe('user-42');
  });

  it('identify: a switch from one identified user to another links nothing (no $anon_distinct_id)', async () => {
    const t = client(sink);
    t.track('anonymous');
    t.identify('user-1');
    t.identify('user-2', { plan: 'team' });
    // Later, a logout (the install id is known by then: this storage reads it asynchronously).
    await t.flush({ timeoutMs: 10_000 });
    t.reset();
    t.identify('user-3');
    await t.flush({ timeoutMs: 10_000 });
    const [anonymous, one, two, three] = sinkEvents(sink);
    expect(one!.properties.$anon_distinct_id).toBe(anonymous!.distinct_id);
    expect(two!.distinct_id).toBe('user-2');
    expect(two!.properties).not.toHaveProperty('$anon_distinct_id');
    expect(two!.properties.$set).toEqual({ plan: 'team' });
    // After reset() the anonymous id is a new one: the old one is user-1's in PostHog and
    // Segment now, and linking it again merged user-3 into user-1.
    expect(three!.properties.$anon_distinct_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(three!.properties.$anon_distinct_id).not.toBe(anonymous!.distinct_id);
  });

  it('identify() without traits sends Segment no traits, not the super properties (a per-event value became a user attribute)', async () => {
    sink.handler = () => ({ status: 200, body: '{"success":true}' });
    const t = client(sink, { endpoints: [{ destination: 'segment', host: sink.url, key: 'seg' }] });
    t.register({ app: 'my-cli', command: 'deploy' });
    t.identify('user-1');
    await t.flush({ timeoutMs: 10_000 });
    const messages = sinkEvents(sink) as unknown as Array<Record<string, unknown>>;
    const identify = messages.find((m) => m.type === 'identify')!;
    expect(identify).toMatchObject({ userId: 'user-1' });
    expect(identify.traits).toEqual({});
    await t.shutdown({ timeoutMs: 5_000 });
  });

  it('identify: an email-shaped id is linked as it is, while an email in the traits is redacted', async () => {
    const t = client(sink, { distinctId: 'jane@example.com' });
    t.identify('user-7', { contact: 'reach me at jane@example.com' });
    t.track('after');
    await t.flush({ timeoutMs: 10_000 });
    const [identify] = sinkEvents(sink);
    expect(identify!.distinct_id).toBe('user-7');
    expect(identify!.properties.$anon_distinct_id).toBe('jane@example.com');
    expect(identify!.properties.$set).toEqual({ contact: 'reach me at [REDACTED]' });
    await t.shutdown({ timeoutMs: 5_000 });
  });

  it('anonymous events say $is_identified: false, so Segment gets anonymousId before identify and userId after', async () => {
    sink.handler = () => ({ status: 200, body: '{"success":true}' });
    const t = client(sink, { endpoints: [{ destination: 'segment', host: sink.url, key: 'seg' }] });
    t.track('before');
    t.identify('user-9');
    t.track('after');
    await t.flush({ timeoutMs: 10_000 });
    const messages = sinkEvents(sink) as unknown as Array<Record<string, unknown>>;
    const [before, identify, after] = messages;
    expect(before).toMatchObject({ type: 'track', event: 'before' });
    expect(before!.userId).toBeUndefined();
    expect(typeof before!.anonymousId).toBe('string');
    expect(identify).toMatchObject({ type: 'identify', userId: 'user-9', anonymousId: before!.anonymousId });
    expect(after).toMatchObject({ type: 'track', event: 'after', userId: 'user-9' });
    expect(after!.anonymousId).toBeUndefined();
    await t.shutdown({ timeoutMs: 5_000 });
    // On the Homing server's wire: the flag on anonymous events only.
    sink.requests.length = 0;
    const native = client(sink);
    native.track('anon');
    native.identify('user-10');
    native.track('known');
    await native.flush({ timeoutMs: 10_000 });
    const byName = new Map(sinkEvents(sink).map((e) => [e.event, e.properties]));
    expect(byName.get('anon')!.$is_identified).toBe(false);
    expect(byName.get('known')!.$is_identified).toBeUndefined();
  });

  it('register merges super properties; the event wins; bad input is ignored', async () => {
    const t = client(sink, { distinctId: 'app-user' });
    t.register({ a: 1, b: 1 });
    t.register({ b: 2 });
    t.register('nope' as unknown as Record<string, unknown>);
    t.track('x', { a: 0 });
    await t.flush({ timeoutMs: 10_000 });
    const [x] = sinkEvents(sink);
    expect(x!.distinct_id).toBe('app-user');
    expect(x!.properties).toMatchObject({ a: 0, b: 2 });
  });

  it('register keeps at most maxProperties super properties (a warning names the rest); kept ones can still change', async () => {
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => void warnings.push(m), error() {} };
    const t = client(sink, { distinctId: 'app-user', logger, propertyLimits: { maxProperties: 5 } });
    t.register(JSON.parse('{"__proto__":"own"}') as Record<string, unknown>);
    for (let i = 0; i < 8; i++) t.register({ [`k${i}`]: i });
    t.register({ k0: 'changed' });
    t.track('x');
    await t.flush({ timeoutMs: 10_000 });
    const props = sinkEvents(sink).at(-1)!.properties;
    expect(Object.keys(props).filter((k) => k.startsWith('k'))).toEqual(['k0', 'k1', 'k2', 'k3']);
    expect(props.k0).toBe('changed');
    expect(Object.getOwnPropertyDescriptor(props, '__proto__')?.value).toBe('own');
    expect(warnings.filter((w) => w.includes('at most 5 super properties'))).toHaveLength(4);
    expect(warnings.at(-1)).toContain('ignored "k7"');
    sink.requests.length = 0;
  });

  it('register applies to later events only, also to events tracked before the install id was read', async () => {
    for (const beforeSend of [undefined, (e: HomingEvent) => e]) {
      sink.requests.length = 0;
      // Right after createTelemetry the install id is being read: these events wait to be built.
      const t = client(sink, beforeSend === undefined ? {} : { beforeSend });
      t.track('before.register');
      t.register({ plan: 'pro' });
      t.track('after.register');
      t.register({ plan: 'enterprise' });
      t.track('after.second');
      await t.flush({ timeoutMs: 10_000 });
      const plans = new Map(sinkEvents(sink).map((e) => [e.event, e.properties.plan]));
      expect(plans).toEqual(
        new Map([
          ['before.register', undefined],
          ['after.register', 'pro'],
          ['after.second', 'enterprise'],
        ]),
      );
    }
  });

  it('redacts by field name and by pattern by default, and not at all with redaction: false', async () => {
    const t = client(sink);
    t.track('signup', { password: 'hunter2', note: 'mail me at ann@example.com', order: 'ORD-2026-0001' });
    await t.flush({ timeoutMs: 10_000 });
    const [e] = sinkEvents(sink);
    expect(e!.properties.password).toBe('[REDACTED]');
    expect(e!.properties.note).not.toContain('ann@example.com');
    expect(e!.properties.order).toBe('ORD-2026-0001');
    expect(e!.properties.$session_id).toMatch(UUID_V7);

    const off = client(sink, { redaction: false });
    off.track('signup', { password: 'hunter2' });
    await off.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).at(-1)!.properties.password).toBe('hunter2');
  });

  it('hashes redacted values with redaction.hashKey, the same value to the same hash', async () => {
    const t = client(sink, { redaction: { hashKey: 'k1' } });
    t.track('a', { email: 'ann@example.com' });
    t.track('b', { email: 'ann@example.com' });
    await t.flush({ timeoutMs: 10_000 });
    const [a, b] = sinkEvents(sink);
    expect(a!.properties.email).toMatch(/^\[HASH:[0-9a-f]{16}\]$/);
    expect(b!.properties.email).toBe(a!.properties.email);
  });

  it('beforeSend may change or drop an event; a throwing one drops that event only, counted', async () => {
    let calls = 0;
    const t = client(sink, {
      beforeSend: (event) => {
        calls++;
        if (event.event === 'drop.me') return null;
        if (event.event === 'throw') throw new Error('bug in app hook');
        if (event.event === 'break') return { ...event, uuid: '' };
        return { ...event, properties: { ...event.properties, seen: true } };
      },
    });
    const drops: string[] = [];
    t.on('drop', (d) => drops.push(`${d.reason}:${d.count}`));
    expect(() => {
      t.track('keep');
      t.track('drop.me');
      t.track('throw');
      t.track('break');
    }).not.toThrow();
    await t.flush({ timeoutMs: 10_000 });
    expect(calls).toBe(4);
    expect(sinkEvents(sink).map((e) => [e.event, e.properties.seen])).toEqual([['keep', true]]);
    const stats = await t.stats();
    expect(stats.dropped.rejected).toBe(3);
    expect(drops).toEqual(['rejected:1', 'rejected:1', 'rejected:1']);
  });

  it('samples by rule and counts what was sampled out', async () => {
    const t = client(sink, {
      sampling: {
        rules: { 'debug.*': { kind: 'never' }, noisy: { kind: 'throttled', max: 2, windowMs: 60_000 } },
      },
    });
    for (let i = 0; i < 5; i++) {
      t.track('debug.tick');
      t.track('noisy');
    }
    t.track('kept');
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['noisy', 'noisy', 'kept']);
    expect((await t.stats()).dropped.sampling).toBe(8);
  });

  it('deterministic sampling keeps or drops a session whole when identify() changes the id in it', async () => {
    const half = { kind: 'probabilistic', rate: 0.5, deterministic: true } as const;
    const decide = (id: string): boolean => new Sampler({ default: half }).keep('e', id, 0);
    const ids = Array.from({ length: 200 }, (_, i) => `anon-${i}`);
    // One anonymous id kept whose user id is dropped, and one the other way round.
    const keptAnon = ids.find((id) => decide(id) && !decide(id.replace('anon', 'user')))!;
    const droppedAnon = ids.find((id) => !decide(id) && decide(id.replace('anon', 'user')))!;
    for (const [anon, kept] of [
      [keptAnon, true],
      [droppedAnon, false],
    ] as const) {
      sink.requests.length = 0;
      const t = client(sink, { distinctId: anon, sampling: { default: half } });
      t.track('before');
      t.identify(anon.replace('anon', 'user'));
      t.track('after');
      await t.flush({ timeoutMs: 10_000 });
      expect(sinkEvents(sink).map((e) => e.event)).toEqual(kept ? ['before', '$identify', 'after'] : []);
      expect((await t.stats()).dropped.sampling).toBe(kept ? 0 : 3);
      await t.shutdown({ timeoutMs: 2_000 });
    }
  });

  it('stats: counts from track to sent, queue, breaker per endpoint, last error', async () => {
    const t = client(sink);
    for (let i = 0; i < 10; i++) t.track('e', { i });
    await t.flush({ timeoutMs: 10_000 });
    await t.persist();
    let stats = await t.stats();
    expect(stats).toMatchObject({
      tracked: 10,
      queued: 10,
      persisted: 10,
      sent: 10,
      enabled: true,
      consent: 'granted',
    });
    expect(stats.queue).toMatchObject({ events: 0, bytes: 0 });
    expect(Object.keys(stats.breakers)).toEqual([`homing:${sink.url}`]);
    sink.handler = () => ({ status: 503 });
    t.track('fails');
    await t.flush({ timeoutMs: 300 });
    stats = await t.stats();
    expect(stats.failedAttempts).toBeGreaterThan(0);
    expect(stats.lastError?.reason).toMatch(/503/);
    expect(stats.queue?.events).toBe(1);
  });

  it('emits sent and delivery-error; a throwing listener breaks nothing; unsubscribe works', async () => {
    const t = client(sink);
    const sent: number[] = [];
    t.on('sent', () => {
      throw new Error('listener bug');
    });
    const off = t.on('sent', (s) => sent.push(s.count));
    t.on('drop', 42 as never);
    t.track('one');
    await t.flush({ timeoutMs: 10_000 });
    off();
    t.track('two');
    await t.flush({ timeoutMs: 10_000 });
    expect(sent).toEqual([1]);
    expect(sinkEvents(sink)).toHaveLength(2);
  });

  it('an async listener that rejects is logged, never an unhandled rejection (which ends a Node process)', async () => {
    const warnings: string[] = [];
    const logger = { debug: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} };
    const t = client(sink, { logger });
    const sent: number[] = [];
    t.on('sent', async () => {
      await Promise.resolve();
      throw new Error('async listener bug');
    });
    // A thenable that is not a Promise, as some libraries answer.
    t.on(
      'sent',
      () => ({ then: (_ok: unknown, fail: (e: unknown) => void) => fail(new Error('thenable')) }) as never,
    );
    t.on('sent', (s) => void sent.push(s.count));
    t.track('one');
    await t.flush({ timeoutMs: 10_000 });
    await until(() => warnings.filter((w) => w.includes('"sent" listener')).length === 2);
    expect(warnings.filter((w) => w.includes(`"sent" listener's promise rejected`))).toHaveLength(2);
    expect(sent).toEqual([1]);
    t.track('two');
    await t.flush({ timeoutMs: 10_000 });
    expect(sinkEvents(sink)).toHaveLength(2);
  });

  it('featureHost tracks through the same pipeline (redaction, consent, outbox)', async () => {
    const t = client(sink);
    const host = t.featureHost();
    host.track('$exception', { message: 'boom', token: 'abc' });
    await host.persist();
    expect(typeof host.now()).toBe('number');
    await t.flush({ timeoutMs: 10_000 });
    const [e] = sinkEvents(sink);
    expect(e!.event).toBe('$exception');
    expect(e!.properties.token).toBe('[REDACTED]');
  });

  it('shutdown sends what is pending, is idempotent, and later tracks are counted, not sent', async () => {
    const outbox = createMemoryOutbox();
    const t = clientFor(sink, { storage: outbox, delivery: { intervalMs: 60_000 } });
    t.track('last');
    await Promise.all([t.shutdown({ timeoutMs: 10_000 }), t.shutdown({ timeoutMs: 10_000 })]);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['last']);
    t.track('late');
    expect((await t.stats()).dropped.disabled).toBe(1);
    // The app's own outbox is left open for the app.
    outbox.append([{ uuid: 'x', json: '{}', timestampMs: Date.now() }]);
    expect((await outbox.size()).events).toBe(1);
    await outbox.close();
  });

  it('a batch full by bytes goes out at once: track() tells delivery the size of each event', async () => {
    const t = client(sink, { delivery: { intervalMs: 60_000, batchBytes: 4_000 } });
    // Started (delivery is let go with a drain then): what follows waits for no start-up drain.
    await t.flush({ timeoutMs: 5_000 });
    // Far fewer than batchSize (100), over batchBytes together.
    for (let i = 0; i < 12; i++) t.track('large', { i, note: 'n'.repeat(400) });
    await until(() => sink.requests.length > 0, 10_000, 'a request long before the 60 s interval');
  });

  it('a persist that fails before every flush is warned once, then at debug until it succeeds again', async () => {
    const logs: string[] = [];
    const log = (level: string) => (m: string) => void logs.push(`${level} ${m}`);
    const logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
    const outbox = createMemoryOutbox();
    let failure: Error | undefined = new Error('persist (events are kept in memory only)');
    outbox.persist = () => (failure === undefined ? Promise.resolve() : Promise.reject(failure));
    const t = client(sink, { storage: outbox, logger });
    const persistLogs = () => logs.filter((l) => l.endsWith('persist before flush failed'));
    for (let i = 0; i < 3; i++) {
      t.track('e', { i });
      await t.flush({ timeoutMs: 2_000 });
    }
    expect(persistLogs()).toEqual([
      'warn persist before flush failed',
      'debug persist before flush failed',
      'debug persist before flush failed',
    ]);
    failure = undefined;
    await t.flush({ timeoutMs: 2_000 });
    failure = new Error('persist (events are kept in memory only)');
    await t.flush({ timeoutMs: 2_000 });
    failure = new Error('disk full');
    await t.flush({ timeoutMs: 2_000 });
    expect(persistLogs().slice(3)).toEqual([
      'warn persist before flush failed',
      'warn persist before flush failed',
    ]);

    // A full disk whose message changes with the bytes left is one failure; the app's own
    // persist() succeeding in between makes the next one new.
    const full = (free: number) =>
      Object.assign(new Error(`no space (${free} bytes free)`), { code: 'ENOSPC' });
    failure = full(49_152);
    await t.flush({ timeoutMs: 2_000 });
    failure = full(36_864);
    await t.flush({ timeoutMs: 2_000 });
    failure = undefined;
    await t.persist();
    failure = full(40_960);
    await t.flush({ timeoutMs: 2_000 });
    expect(persistLogs().slice(5)).toEqual([
      'warn persist before flush failed',
      'debug persist before flush failed',
      'warn persist before flush failed',
    ]);
  });

  it('flush and shutdown reject a bad timeout with an error naming it', async () => {
    const t = client(sink);
    await expect(t.flush({ timeoutMs: -1 })).rejects.toMatchObject({
      kind: 'telemetry-option',
      option: 'timeoutMs',
    });
    await expect(t.shutdown({ timeoutMs: Number.NaN })).rejects.toMatchObject({ option: 'timeoutMs' });
    await expect(t.flush({ timeoutMs: 0 })).resolves.toMatchObject({ sent: 0 });
  });

  it('keeps events in the outbox while the sink is down and sends them when it is back', async () => {
    const t = client(sink, {
      delivery: { intervalMs: 20, retry: { initialMs: 10, maxMs: 20 }, breaker: { threshold: 1000 } },
    });
    sink.handler = () => 'reset';
    for (let i = 0; i < 20; i++) t.track('outage', { i });
    await until(async () => (await t.stats()).failedAttempts > 0, 15_000, 'a failed attempt');
    sink.handler = () => ({ status: 202 });
    await until(async () => (await t.stats()).sent === 20, 15_000, 'all sent');
    expect(new Set(sink.acceptedUuids).size).toBe(20);
  });
});
