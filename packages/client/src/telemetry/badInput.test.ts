import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryClient } from './client.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

/** track() with everything an app can get wrong: it never throws; events are repaired or dropped, counted. */
describe('track never throws on bad input', () => {
  let sink: Sink;
  let t: TelemetryClient;
  beforeAll(async () => {
    sink = await Sink.start();
    t = clientFor(sink, { redaction: false });
  });
  afterAll(async () => {
    await t.shutdown({ timeoutMs: 5_000 });
    await sink.down();
  });

  const sent = async (): Promise<ReturnType<typeof sinkEvents>> => {
    await t.flush({ timeoutMs: 10_000 });
    const events = sinkEvents(sink);
    sink.requests.length = 0;
    return events;
  };

  it('repairs non-JSON properties: cycles, BigInt, functions, symbols, NaN, Dates, Maps, throwing getters', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('getter throws');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap throws');
        },
      },
    );
    const before = (await t.stats()).fixed;
    expect(() =>
      t.track('weird', {
        cyclic,
        big: 12345678901234567890n,
        fn: () => 1,
        sym: Symbol('s'),
        [Symbol('key')]: 'hidden',
        nan: Number.NaN,
        when: new Date(0),
        map: new Map([['a', 1]]),
        getter,
        proxy,
        nested: { deeper: [1, undefined, () => 2] },
      }),
    ).not.toThrow();
    const [e] = await sent();
    expect(e!.properties).toMatchObject({
      cyclic: { name: 'loop', self: '[Circular]' },
      big: '12345678901234567890',
      nan: null,
      when: '1970-01-01T00:00:00.000Z',
      map: { a: 1 },
      getter: { ok: 1, bad: '[Unreadable]' },
      proxy: '[Unreadable]',
      nested: { deeper: [1, null, null] },
    });
    expect(e!.properties).not.toHaveProperty('fn');
    expect(e!.properties).not.toHaveProperty('sym');
    expect((await t.stats()).fixed).toBe(before + 1);
  });

  it('counts as fixed each event a repair changed: BigInt, a dropped function or symbol, an invalid Date, NaN; not one with only undefined', async () => {
    const before = (await t.stats()).fixed;
    t.track('a', { b: 1n });
    t.track('b', { f: () => 1, k: 1 });
    t.track('c', { s: Symbol('s'), k: 1 });
    t.track('d', { d: new Date(Number.NaN) });
    t.track('e', { n: Number.NaN });
    t.track('plain', { u: undefined, k: 1 });
    const events = await sent();
    expect(events.map((e) => e.event)).toEqual(['a', 'b', 'c', 'd', 'e', 'plain']);
    expect(events[3]!.properties.d).toBeNull();
    expect((await t.stats()).fixed - before).toBe(5);
  });

  it('cuts huge strings and huge objects, and drops an event still over maxEventBytes', async () => {
    t.track('huge', {
      text: 'x'.repeat(5_000_000),
      many: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, i])),
    });
    const [e] = await sent();
    expect((e!.properties.text as string).length).toBeLessThan(10_000);
    expect(Object.keys(e!.properties.many as object)).toHaveLength(1000);

    const small = clientFor(sink, { maxEventBytes: 1_000, redaction: false });
    small.track('too.big', { a: 'y'.repeat(2_000) });
    small.track('fits', { a: 'y' });
    await small.flush({ timeoutMs: 10_000 });
    expect((await small.stats()).dropped['too-large']).toBe(1);
    await small.shutdown({ timeoutMs: 5_000 });
    expect(sinkEvents(sink).map((x) => x.event)).toEqual(['fits']);
    sink.requests.length = 0;
  });

  it('drops a DAG of shared arrays as too large after reading a bounded part of it', async () => {
    let reads = 0;
    const leaf = {
      get v() {
        reads++;
        return 'x';
      },
    };
    const l1 = new Array<unknown>(100).fill(leaf);
    const l2 = new Array<unknown>(100).fill(l1);
    const l3 = new Array<unknown>(100).fill(l2); // 1 000 000 paths to one leaf: 10 MB of JSON
    const withDefaults = clientFor(sink, { redaction: false });
    withDefaults.track('dag', { x: l3 });
    withDefaults.track('shared', { a: l1, b: l1 });
    await withDefaults.flush({ timeoutMs: 10_000 });
    const stats = await withDefaults.stats();
    expect(stats.dropped['too-large']).toBe(1);
    expect(stats.fixed).toBe(0);
    await withDefaults.shutdown({ timeoutMs: 5_000 });
    // Each read leaf is at least 8 bytes of JSON: the walk stops within maxEventBytes (twice:
    // the read in place, then the clone).
    expect(reads).toBeLessThanOrEqual((2 * 512 * 1024) / 8 + 200);
    const events = sinkEvents(sink);
    expect(events.map((x) => x.event)).toEqual(['shared']);
    expect(JSON.stringify(events[0]!.properties.a)).toBe(JSON.stringify(l1));
    expect(events[0]!.properties.b).toEqual(events[0]!.properties.a);
    sink.requests.length = 0;
  });

  it('drops events with unusable names (counted invalid) and fixes names it can', async () => {
    const before = (await t.stats()).dropped.invalid;
    for (const name of ['', '   ', null, undefined, 42, {}, Symbol('x'), ['a']]) {
      expect(() => t.track(name as unknown as string)).not.toThrow();
    }
    t.track('  padded  ');
    t.track('n'.repeat(1000));
    const events = await sent();
    expect(events.map((e) => e.event)).toEqual(['padded', 'n'.repeat(200)]);
    expect((await t.stats()).dropped.invalid).toBe(before + 8);
  });

  it('keeps an event whose properties are not an object (without them), counted as fixed', async () => {
    const before = (await t.stats()).fixed;
    for (const props of ['text', 42, true, [1, 2], () => 1, Symbol('p')]) {
      expect(() => t.track('odd.props', props as unknown as Record<string, unknown>)).not.toThrow();
    }
    t.track('null.props', null as unknown as Record<string, unknown>);
    const events = await sent();
    expect(events).toHaveLength(7);
    expect(events.every((e) => typeof e.properties.$session_id === 'string')).toBe(true);
    expect((await t.stats()).fixed).toBe(before + 6);
  });

  it('survives hostile hooks: a beforeSend answering junk, a custom redactor throwing, a toJSON throwing', async () => {
    const hostile = clientFor(sink, {
      beforeSend: (e) => (e.event === 'junk' ? (42 as never) : e),
      redaction: {
        custom: (p) => {
          if (p.explode === true) throw new Error('redactor bug');
          return p;
        },
      },
    });
    hostile.track('junk');
    hostile.track('boom', { explode: true });
    hostile.track('tojson', {
      v: {
        toJSON() {
          throw new Error('toJSON bug');
        },
      },
    });
    hostile.track('fine');
    await hostile.flush({ timeoutMs: 10_000 });
    const stats = await hostile.stats();
    await hostile.shutdown({ timeoutMs: 5_000 });
    expect(stats.dropped.rejected).toBe(2);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['tojson', 'fine']);
    sink.requests.length = 0;
  });

  it('ignores bad identify/register/setConsent/on arguments without throwing', async () => {
    expect(() => {
      t.identify(undefined as unknown as string);
      t.identify('x'.repeat(10_000));
      t.register(null as unknown as Record<string, unknown>);
      t.register([1, 2] as unknown as Record<string, unknown>);
      t.setConsent('maybe' as never);
      t.on('nope' as never, () => {});
    }).not.toThrow();
    t.track('after.bad.calls');
    const [e] = await sent();
    expect(e!.event).toBe('after.bad.calls');
    expect((await t.stats()).consent).toBe('granted');
  });
  it('a logger that throws never reaches the app through track, identify, register or setConsent', async () => {
    const explode = (): never => {
      throw new Error('logger bug');
    };
    const loud = clientFor(sink, {
      logger: { debug: explode, warn: explode, error: explode },
      sampling: { rules: { 'sampled.out': { kind: 'never' } } },
    });
    expect(() => {
      loud.track('');
      loud.track('sampled.out');
      loud.identify('' as string);
      loud.register(null as unknown as Record<string, unknown>);
      loud.setConsent('maybe' as never);
    }).not.toThrow();
    loud.track('still.works');
    await loud.flush({ timeoutMs: 10_000 });
    const stats = await loud.stats();
    await loud.shutdown({ timeoutMs: 5_000 });
    expect(stats.dropped.invalid).toBe(1);
    expect(stats.dropped.sampling).toBe(1);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['still.works']);
    sink.requests.length = 0;
  });

  it('an event whose clock goes wrong while it waits for the install id is kept, stamped by Date.now(), not thrown into the host', async () => {
    let calls = 0;
    // Call 0 is createTelemetry's check of the clock. The first event is tracked before the
    // memory storage's install id is read, so it is built in the client's start-up, off the
    // app's turn; its NaN time is replaced by Date.now() (it used to drop the event as invalid).
    const early = clientFor(sink, { now: () => (calls++ === 1 ? Number.NaN : Date.now()) });
    early.track('bad.clock');
    early.track('good.clock');
    await early.flush({ timeoutMs: 10_000 });
    const stats = await early.stats();
    await early.shutdown({ timeoutMs: 5_000 });
    expect(stats.dropped.invalid).toBe(0);
    expect(sinkEvents(sink).map((e) => e.event)).toEqual(['bad.clock', 'good.clock']);
    sink.requests.length = 0;
  });
  it('keeps strings up to propertyLimits.maxStringLength whole with pattern redaction on', async () => {
    const long = clientFor(sink, { propertyLimits: { maxStringLength: 100_000 } });
    const text = 'word '.repeat(4_000) + 'mail me at someone@example.com ' + 'tail '.repeat(1_000);
    long.track('long.text', { text });
    await long.flush({ timeoutMs: 10_000 });
    const stats = await long.stats();
    await long.shutdown({ timeoutMs: 5_000 });
    const [e] = sinkEvents(sink);
    sink.requests.length = 0;
    const sent = e!.properties.text as string;
    expect(sent).toBe(text.replace('someone@example.com', '[REDACTED]'));
    expect(stats.fixed).toBe(0);
  });
  it('keeps an event whose properties are a Proxy that cannot be read at all, without them, counted as fixed', async () => {
    const revocable = Proxy.revocable({ a: 1 }, {});
    revocable.revoke();
    const hostile = new Proxy(
      { a: 1 },
      {
        ownKeys() {
          throw new Error('ownKeys trap');
        },
        getPrototypeOf() {
          throw new Error('getPrototypeOf trap');
        },
      },
    );
    const before = (await t.stats()).fixed;
    expect(() => {
      t.track('revoked.proxy', revocable.proxy as Record<string, unknown>);
      t.track('hostile.proxy', hostile as Record<string, unknown>);
    }).not.toThrow();
    const events = await sent();
    expect(events.map((e) => e.event)).toEqual(['revoked.proxy', 'hostile.proxy']);
    for (const e of events) expect(e.properties.a).toBeUndefined();
    expect((await t.stats()).fixed - before).toBe(2);
  });
  it('events still in a memory outbox at shutdown are counted as unsaved; a failed store is the last error', async () => {
    const down = clientFor(sink, {
      endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:9', key: 'k' }],
    });
    const drops: Array<{ reason: string; count: number }> = [];
    down.on('drop', (d) => drops.push(d));
    for (let i = 0; i < 10; i++) down.track('never.sent', { i });
    await down.shutdown({ timeoutMs: 300 });
    expect((await down.stats()).dropped.unsaved).toBe(10);
    expect(drops).toContainEqual({ reason: 'unsaved', count: 10 });

    const outbox = createMemoryOutbox();
    outbox.persist = () => Promise.reject(new Error('ENOSPC: no space left on device'));
    const full = clientFor(sink, { storage: outbox, distinctId: 'u' });
    full.track('x');
    await expect(full.persist()).rejects.toThrow(/ENOSPC/);
    const { lastError } = await full.stats();
    expect(lastError).toMatchObject({ endpoint: 'outbox' });
    expect(lastError!.reason).toContain('ENOSPC');
    await full.shutdown({ timeoutMs: 1_000 });
    await outbox.close();
    sink.requests.length = 0;
  });
  it('a file outbox whose directory cannot be used: events still go out from memory, but persist() rejects and lastError says so', async () => {
    const parent = mkdtempSync(path.join(os.tmpdir(), 'homing-unusable-'));
    const notADirectory = path.join(parent, 'a-file');
    writeFileSync(notADirectory, 'not a directory');
    try {
      const t = clientFor(sink, {
        storage: 'file',
        directory: path.join(notADirectory, 'outbox'),
        distinctId: 'u',
      });
      t.track('kept.in.memory');
      await expect(t.persist()).rejects.toThrow(/kept in memory only/);
      const stats = await t.stats();
      expect(stats.persisted).toBe(0);
      expect(stats.lastError).toMatchObject({ endpoint: 'outbox' });
      expect(stats.lastError!.reason).toMatch(/kept in memory only.*(ENOTDIR|EEXIST)/);
      await t.flush({ timeoutMs: 5_000 });
      expect(sinkEvents(sink).map((e) => e.event)).toContain('kept.in.memory');
      await t.shutdown({ timeoutMs: 1_000 });
    } finally {
      rmSync(parent, { recursive: true, force: true });
      sink.requests.length = 0;
    }
  });
});
