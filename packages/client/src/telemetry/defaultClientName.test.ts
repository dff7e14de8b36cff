import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResolvedEndpoint } from '../delivery/deliveryOptions.js';
import { createTelemetry } from '../index.node.js';
import type { TelemetryClient } from './client.js';
import { consentFile } from './consentFile.node.js';
import { defaultClientName } from './defaultClientName.js';
import { Sink, sinkEvents, testPlatform, until } from './telemetry.test-helpers.js';

const endpoint = (
  destination: ResolvedEndpoint['destination'],
  host: string,
  key: string,
): ResolvedEndpoint => ({
  id: `${destination}:${host}`,
  destination,
  host,
  key,
  send: undefined,
});

describe('defaultClientName', () => {
  it('is one name per set of endpoints, whatever their order, and default for custom ones only', () => {
    const a = endpoint('homing', 'http://a.example', 'k1');
    const b = endpoint('posthog', 'https://b.example', 'k2');
    expect(defaultClientName([a, b])).toMatch(/^default-[0-9a-f]{16}$/);
    expect(defaultClientName([a, b])).toBe(defaultClientName([b, a]));
    expect(defaultClientName([a])).not.toBe(defaultClientName([b]));
    expect(defaultClientName([a])).not.toBe(
      defaultClientName([endpoint('homing', 'http://a.example', 'k3')]),
    );
    expect(defaultClientName([a])).not.toBe(
      defaultClientName([endpoint('segment', 'http://a.example', 'k1')]),
    );
    expect(defaultClientName([{ ...endpoint('custom', '', ''), id: 'custom:0' }])).toBe('default');
  });
});

describe('clients the app gave no name (Node, file outbox in the user cache directory)', () => {
  let cache: string;
  let saved: string | undefined;
  const sinks: Sink[] = [];
  const clients: TelemetryClient[] = [];
  beforeEach(() => {
    cache = mkdtempSync(path.join(os.tmpdir(), 'homing-default-name-'));
    saved = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = cache;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.shutdown({ timeoutMs: 1_000 });
    for (const s of sinks.splice(0)) await s.down();
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
    rmSync(cache, { recursive: true, force: true });
  });

  async function sink(): Promise<Sink> {
    const s = await Sink.start();
    sinks.push(s);
    return s;
  }

  function client(to: Sink, key: string, options: { name?: string; consent?: 'granted' | 'pending' } = {}) {
    const c = createTelemetry({
      endpoints: [{ destination: 'homing', host: to.url, key }],
      platform: testPlatform(),
      respectDoNotTrack: false,
      ...options,
      delivery: { intervalMs: 20, retry: { initialMs: 10, maxMs: 50 }, breaker: { halfOpenAfterMs: 50 } },
    });
    clients.push(c);
    return c;
  }

  /** Shuts `c` down now (not again at the end of the test). */
  async function stop(c: TelemetryClient): Promise<void> {
    await c.shutdown({ timeoutMs: 500 });
    clients.splice(clients.indexOf(c), 1);
  }

  /**
   * Another program of an earlier version, whose unnamed client used the shared directory: its
   * queued event (its server down) and `consent` remembered there.
   */
  async function anotherProgramShared(consent: 'granted' | 'denied'): Promise<void> {
    const otherSink = await sink();
    await otherSink.down();
    const other = client(otherSink, 'other-key', { name: 'default' });
    other.track('other.event');
    await stop(other);
    await consentFile(path.join(cache, 'homing', 'default')).write(consent);
  }

  const names = (s: Sink): string[] => sinkEvents(s).map((e) => e.event);
  const outboxes = (): string[] => readdirSync(path.join(cache, 'homing')).sort();

  it('an app and a library in one process each send only their own events, to their own server, under their own install id', async () => {
    const appSink = await sink();
    const libSink = await sink();
    const app = client(appSink, 'app-key');
    const lib = client(libSink, 'lib-key');
    for (let i = 0; i < 5; i++) {
      app.track('app.event');
      lib.track('lib.event');
    }
    await app.flush({ timeoutMs: 5_000 });
    await lib.flush({ timeoutMs: 5_000 });
    await until(() => names(appSink).length === 5 && names(libSink).length === 5, 5_000, 'both sinks');
    expect(names(appSink)).toEqual(Array(5).fill('app.event'));
    expect(names(libSink)).toEqual(Array(5).fill('lib.event'));
    const appIds = new Set(sinkEvents(appSink).map((e) => e.distinct_id));
    const libIds = new Set(sinkEvents(libSink).map((e) => e.distinct_id));
    expect(appIds.size).toBe(1);
    expect([...appIds][0]).not.toBe([...libIds][0]);
    expect(outboxes()).toHaveLength(2);
    expect(outboxes().every((n) => /^default-[0-9a-f]{16}$/.test(n))).toBe(true);
  });

  it("one library's setConsent('granted') does not release the events an app holds pending", async () => {
    const appSink = await sink();
    const libSink = await sink();
    const app = client(appSink, 'app-key', { consent: 'pending' });
    const lib = client(libSink, 'lib-key');
    app.track('before-opt-in');
    lib.setConsent('granted');
    lib.track('lib.event');
    await lib.flush({ timeoutMs: 5_000 });
    await app.flush({ timeoutMs: 1_000 });
    expect(names(libSink)).toEqual(['lib.event']);
    expect(names(appSink)).toEqual([]);
    expect((await app.stats()).queue?.events).toBe(1);
  });

  it('an install upgraded from the shared `default` directory keeps using it while the endpoints saved there are its own', async () => {
    const down = await sink();
    const host = down.url;
    await down.down();
    // An earlier version: every unnamed client used <cache>/homing/default.
    const before = client(down, 'app-key', { name: 'default' });
    before.track('queued.earlier');
    await stop(before);
    expect(outboxes()).toEqual(['default']);
    await down.up();
    expect(down.url).toBe(host);
    const after = client(down, 'app-key');
    after.track('after.upgrade');
    await after.flush({ timeoutMs: 5_000 });
    await until(() => names(down).length === 2, 5_000, 'the earlier and the new event');
    expect(names(down).sort()).toEqual(['after.upgrade', 'queued.earlier']);
    expect(new Set(sinkEvents(down).map((e) => e.distinct_id)).size).toBe(1);
    expect(outboxes()).toEqual(['default']);
  });

  it("another app's shared directory is left alone; only a denial remembered there carries over", async () => {
    await anotherProgramShared('denied');

    const mine = await sink();
    const app = client(mine, 'app-key');
    app.track('mine.event');
    await app.flush({ timeoutMs: 1_000 });
    expect(names(mine)).toEqual([]);
    expect((await app.stats()).dropped.consent).toBeGreaterThanOrEqual(1);
    const own = outboxes().find((n) => n !== 'default')!;
    expect(own).toMatch(/^default-[0-9a-f]{16}$/);
    // Stored as its own: it outlasts the shared directory.
    expect(consentFile(path.join(cache, 'homing', own)).readNow()).toBe('denied');
    await stop(app);
    rmSync(path.join(cache, 'homing', 'default'), { recursive: true, force: true });
    const next = client(mine, 'app-key');
    next.track('still.denied');
    await next.flush({ timeoutMs: 1_000 });
    expect(names(mine)).toEqual([]);
  });

  it('says, once, when it passes over the shared directory of earlier versions that holds queued events, and how to send them', async () => {
    await anotherProgramShared('granted');
    const mine = await sink();
    const warnings: string[] = [];
    const start = () =>
      createTelemetry({
        endpoints: [{ destination: 'homing', host: mine.url, key: 'app-key' }],
        platform: testPlatform(),
        respectDoNotTrack: false,
        logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
      });
    await start().shutdown({ timeoutMs: 500 });
    const shared = path.join(cache, 'homing', 'default');
    expect(warnings.filter((w) => w.includes(shared))).toEqual([
      expect.stringContaining(`homing flush --outbox ${shared} --host <url> --key <key>`),
    ]);
    // Its own directory made, later starts say nothing more.
    await start().shutdown({ timeoutMs: 500 });
    expect(warnings.filter((w) => w.includes(shared))).toHaveLength(1);
  });

  // A cache directory under a user name with a space or a quote: the suggested command, pasted,
  // split the path into several arguments.
  it('the suggested flush command quotes a directory the shell would split', async () => {
    const parent = cache;
    cache = path.join(parent, "my cache 'x'");
    mkdirSync(cache);
    process.env.XDG_CACHE_HOME = cache;
    try {
      await anotherProgramShared('granted');
      const mine = await sink();
      const warnings: string[] = [];
      await createTelemetry({
        endpoints: [{ destination: 'homing', host: mine.url, key: 'app-key' }],
        platform: testPlatform(),
        respectDoNotTrack: false,
        logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
      }).shutdown({ timeoutMs: 500 });
      const quoted = `'${path.join(cache, 'homing', 'default').replace(/'/g, `'\\''`)}'`;
      expect(warnings).toContainEqual(
        expect.stringContaining(`homing flush --outbox ${quoted} --host <url> --key <key>`),
      );
    } finally {
      cache = parent;
    }
  });

  it("a grant remembered in another app's shared directory is not taken: the app's own consent option holds", async () => {
    await anotherProgramShared('granted');
    const mine = await sink();
    const app = client(mine, 'app-key', { consent: 'pending' });
    app.track('held');
    await app.flush({ timeoutMs: 500 });
    expect(names(mine)).toEqual([]);
    expect((await app.stats()).queue?.events).toBe(1);
  });

  it('a denial outlasts a change of endpoints (a rotated key starts a new outbox, not a new consent)', async () => {
    const server = await sink();
    const before = client(server, 'key-1');
    before.setConsent('denied');
    before.track('denied.before');
    await stop(before);
    const rotated = client(server, 'key-2');
    rotated.track('after.rotation');
    await rotated.flush({ timeoutMs: 1_000 });
    expect(names(server)).toEqual([]);
    expect((await rotated.stats()).consent).toBe('denied');
    expect(outboxes()).toHaveLength(2);
    // The first run made its install id while consent was granted and removed it at the denial;
    // none is made for the new outbox of a user who said no.
    const withId = outboxes().filter((d) =>
      readdirSync(path.join(cache, 'homing', d)).includes('install-id'),
    );
    expect(withId).toEqual([]);
  });
});
