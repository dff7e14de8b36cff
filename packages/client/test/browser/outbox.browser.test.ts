/**
 * The browser outboxes in real Chromium: IndexedDB across a reload, two tabs on one database
 * (Web Locks), a closed tab's claims, the localStorage fallback, a full quota, and Delivery
 * sending from the page to a cross-origin sink, including across a reload and on page hide.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, type IngestSink, startChromiumSuite, stopChromiumSuite } from './harness.js';

const available = chromiumAvailable();

let server: { url: string; close(): Promise<void> };
let sink: IngestSink;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  if (!available) return;
  ({ server, sink, browser } = await startChromiumSuite());
}, 60_000);

afterAll(async () => {
  if (available) await stopChromiumSuite({ server, sink, browser });
});

beforeEach(async () => {
  if (!available) return;
  // A fresh profile per test: its own IndexedDB, localStorage and locks.
  context = await browser.newContext();
});

afterEach(async () => {
  if (!available) return;
  await context?.close();
});

async function openPage(init?: () => void): Promise<Page> {
  const page = await context.newPage();
  if (init !== undefined) await page.addInitScript(init);
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
  return page;
}

async function reload(page: Page): Promise<void> {
  await page.reload();
  await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
}

/** The page's `homing` object, typed, inside page.evaluate. */
declare const homing: PageHoming;

/** What a page reports from an origin full of the app's data: the events held, sent, then stored once there was room. */
interface HeldThenStored {
  filled: number;
  refused: string | null;
  held: number;
  left: number;
  drops: Record<string, number>;
  refusedAgain: boolean;
  stored: boolean;
  warnings: number;
  sent: string[];
}

/** Held (60 events, nothing dropped), every one at the sink once, held again while full, stored once the app freed room, warned. */
function expectHeldThenStored(result: HeldThenStored, atSink: readonly string[]): void {
  expect(result.filled).toBeGreaterThan(1024 * 1024);
  expect(result.refused).toContain('60 events are held in memory only');
  expect(result.held).toBe(60);
  expect(result.left).toBe(0);
  expect(result.drops).toEqual({});
  // Every event arrived, each once.
  expect([...atSink].sort()).toEqual([...result.sent].sort());
  expect(result.refusedAgain).toBe(true);
  expect(result.stored).toBe(true);
  expect(result.warnings).toBeGreaterThanOrEqual(1);
}

describe.skipIf(!available)('browser outboxes in Chromium', () => {
  it('keeps IndexedDB records across a page reload: append, persist, reload, claim finds them', async () => {
    const page = await openPage();
    const appended = await page.evaluate(async () => {
      const outbox = homing.idb({ name: 'reload' });
      const records = homing.makeRecords('r', 0, 25);
      outbox.append(records);
      await outbox.persist();
      return records.map((r) => r.uuid);
    });
    await reload(page);
    const claimed = await page.evaluate(async () => {
      const outbox = homing.idb({ name: 'reload' });
      const batch = await outbox.claim(100, Infinity);
      const size = await outbox.size();
      return {
        uuids: batch?.records.map((r) => r.uuid) ?? [],
        events: size.events,
        locks: 'locks' in navigator,
      };
    });
    expect(claimed.locks).toBe(true);
    expect(claimed.uuids).toEqual(appended);
    expect(claimed.events).toBe(25);
  });

  it('lets only one of two tabs claim at a time; together they claim every record exactly once', async () => {
    const a = await openPage();
    const b = await openPage();
    // A holds a claim: B, on the same database, gets nothing while A holds the Web Lock.
    await a.evaluate(async () => {
      const outbox = homing.idb({ name: 'tabs' });
      homing.keep.outbox = outbox;
      outbox.append(homing.makeRecords('a', 0, 100));
      await outbox.persist();
      homing.keep.held = await outbox.claim(5, Infinity);
    });
    const bFirst = await b.evaluate(async () => {
      const outbox = homing.idb({ name: 'tabs' });
      homing.keep.outbox = outbox;
      outbox.append(homing.makeRecords('b', 0, 100));
      await outbox.persist();
      return outbox.claim(5, Infinity);
    });
    expect(bFirst).toBeNull();
    await a.evaluate(async () => {
      const outbox = homing.keep.outbox as ReturnType<typeof homing.idb>;
      await outbox.release(homing.keep.held as never);
    });

    // Both tabs now claim and ack as fast as they can, each noting when it held what.
    const loop = (page: Page) =>
      page.evaluate(async () => {
        const outbox = homing.keep.outbox as ReturnType<typeof homing.idb>;
        const held: { uuids: string[]; from: number; to: number }[] = [];
        const deadline = Date.now() + 20_000;
        while (Date.now() < deadline) {
          const batch = await outbox.claim(7, Infinity);
          if (batch === null) {
            if ((await outbox.size()).events === 0) break;
            await homing.sleep(5);
            continue;
          }
          const from = Date.now();
          await homing.sleep(2);
          const to = Date.now();
          await outbox.ack(batch);
          held.push({ uuids: batch.records.map((r) => r.uuid), from, to });
        }
        return held;
      });
    const [heldA, heldB] = await Promise.all([loop(a), loop(b)]);
    const all = [...heldA, ...heldB].flatMap((h) => h.uuids);
    expect(all.length).toBe(200);
    expect(new Set(all).size).toBe(200);
    // No claim of one tab overlaps a claim of the other.
    for (const x of heldA) {
      for (const y of heldB) expect(x.to < y.from || y.to < x.from).toBe(true);
    }
  });

  it("makes a closed tab's claimed records claimable by another tab", async () => {
    const a = await openPage();
    const b = await openPage();
    const held = await a.evaluate(async () => {
      const outbox = homing.idb({ name: 'closed-tab' });
      outbox.append(homing.makeRecords('c', 0, 10));
      await outbox.persist();
      const batch = await outbox.claim(4, Infinity);
      return batch?.records.map((r) => r.uuid) ?? [];
    });
    expect(held.length).toBe(4);
    expect(
      await b.evaluate(async () => {
        homing.keep.outbox = homing.idb({ name: 'closed-tab' });
        return (homing.keep.outbox as ReturnType<typeof homing.idb>).claim(10, Infinity);
      }),
    ).toBeNull();
    await a.close();
    // The browser frees A's lock with the tab; B then finds A's claimed records first.
    await expect
      .poll(
        () =>
          b.evaluate(async () => {
            const batch = await (homing.keep.outbox as ReturnType<typeof homing.idb>).claim(10, Infinity);
            return batch?.records.map((r) => r.uuid) ?? null;
          }),
        { timeout: 15_000, interval: 100 },
      )
      .toEqual([...held, ...['c-000004', 'c-000005', 'c-000006', 'c-000007', 'c-000008', 'c-000009']]);
  });

  it('without Web Locks, keeps two tabs apart with a lease in IndexedDB that expires when its tab closes', async () => {
    const a = await openPage();
    const b = await openPage();
    const held = await a.evaluate(async () => {
      const outbox = homing.idb({ name: 'lease', locks: null, leaseMs: 1_000 });
      outbox.append(homing.makeRecords('x', 0, 6));
      await outbox.persist();
      const batch = await outbox.claim(3, Infinity);
      return batch?.records.map((r) => r.uuid) ?? [];
    });
    expect(held).toEqual(['x-000000', 'x-000001', 'x-000002']);
    expect(
      await b.evaluate(async () => {
        homing.keep.outbox = homing.idb({ name: 'lease', locks: null, leaseMs: 1_000 });
        return (homing.keep.outbox as ReturnType<typeof homing.idb>).claim(10, Infinity);
      }),
    ).toBeNull();
    await a.close();
    // Nobody renews A's lease now: once it expires B takes over, A's claims first.
    await expect
      .poll(
        () =>
          b.evaluate(async () => {
            const batch = await (homing.keep.outbox as ReturnType<typeof homing.idb>).claim(10, Infinity);
            return batch?.records.map((r) => r.uuid) ?? null;
          }),
        { timeout: 15_000, interval: 200 },
      )
      .toEqual([...held, 'x-000003', 'x-000004', 'x-000005']);
  });

  it('falls back to localStorage when IndexedDB is unavailable, and keeps records across a reload', async () => {
    const page = await openPage(() => {
      Object.defineProperty(window, 'indexedDB', { get: () => undefined, configurable: true });
    });
    const first = await page.evaluate(async () => {
      const logger = homing.recordingLogger();
      const outbox = homing.browser({ name: 'fallback', logger });
      const records = homing.makeRecords('l', 0, 30);
      outbox.append(records);
      await outbox.persist();
      const keys = Object.keys(localStorage).filter((k) => k.startsWith('homing-outbox:fallback:c:'));
      return {
        uuids: records.map((r) => r.uuid),
        keys: keys.length,
        lines: logger.lines,
        idb: typeof indexedDB,
      };
    });
    expect(first.idb).toBe('undefined');
    expect(first.keys).toBeGreaterThan(0);
    expect(first.lines.some((l) => l.startsWith('warn IndexedDB cannot be used'))).toBe(true);
    await reload(page);
    const claimed = await page.evaluate(async () => {
      const outbox = homing.browser({ name: 'fallback' });
      const batch = await outbox.claim(100, Infinity);
      await outbox.ack(batch!);
      return {
        uuids: batch?.records.map((r) => r.uuid),
        left: Object.keys(localStorage).filter((k) => k.startsWith('homing-outbox:fallback:c:')).length,
      };
    });
    expect(claimed.uuids).toEqual(first.uuids);
    expect(claimed.left).toBe(0);
  });

  it('deletes no stored IndexedDB record when the origin quota is reached: the rest is held in memory, every event kept once, in order', async () => {
    const page = await openPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url, quotaSize: 2 * 1024 * 1024 });
    const result = await page.evaluate(async () => {
      const outbox = homing.idb({ name: 'quota' });
      const drops = homing.countDrops(outbox);
      const total = 300;
      let refused = 0;
      for (let i = 0; i < total; i += 20) {
        outbox.append(homing.makeRecords('q', i, 20, 20_000, true));
        await outbox.persist().catch(() => refused++);
      }
      const size = await outbox.size();
      const kept: string[] = [];
      for (let b = await outbox.claim(1000, Infinity); b !== null; b = await outbox.claim(1000, Infinity)) {
        kept.push(...b.records.map((r) => r.uuid));
        await outbox.ack(b);
      }
      return { drops, refused, events: size.events, kept, total };
    });
    // 300 records of 20 KB (6 MB) cannot fit in 2 MB, but they are within the outbox's limits:
    // what the quota refuses is held, not made room for by deleting the stored ones.
    expect(result.refused).toBeGreaterThan(0);
    expect(result.drops).toEqual({});
    expect(result.events).toBe(result.total);
    expect(result.kept).toEqual(
      Array.from({ length: result.total }, (_, i) => `q-${String(i).padStart(6, '0')}`),
    );
  });

  it("delivers each event once when the origin is full of the app's own data, and stores them once it has room", async () => {
    sink.requests.length = 0;
    const page = await openPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: server.url, quotaSize: 2 * 1024 * 1024 });
    const result = await page.evaluate(async (host) => {
      const logger = homing.recordingLogger();
      const outbox = homing.idb({ name: 'fullorigin', logger });
      const drops = homing.countDrops(outbox);
      await outbox.persist();
      const filled = await homing.fillOrigin();
      const records = homing.makeRecords('f', 0, 60, 2_000, true);
      outbox.append(records);
      const refused = await outbox.persist().then(
        () => null,
        (error: Error) => error.message,
      );
      const held = (await outbox.size()).events;
      const delivery = homing.startDelivery(outbox, {
        endpoints: [{ destination: 'homing', host, key: 'project-key' }],
        batchSize: 20,
        intervalMs: 50,
        flushOnExit: false,
      });
      const deadline = Date.now() + 30_000;
      while ((await outbox.size()).events > 0 && Date.now() < deadline) await delivery.flush(2_000);
      const left = (await outbox.size()).events;
      await delivery.shutdown(2_000);

      // Still full: held again; then the app deletes its data and the outbox stores them.
      const later = homing.makeRecords('g', 0, 30, 2_000, true);
      outbox.append(later);
      const refusedAgain = await outbox.persist().then(
        () => false,
        () => true,
      );
      await homing.freeOrigin();
      let stored = false;
      while (!stored && Date.now() < deadline + 30_000) {
        stored = await outbox.persist().then(
          () => true,
          () => false,
        );
        if (!stored) await homing.sleep(200);
      }
      await outbox.close();
      const warnings = logger.lines.filter((l) => l.startsWith('warn') && l.includes('held in memory only'));
      return {
        filled,
        refused,
        held,
        left,
        drops,
        refusedAgain,
        stored,
        warnings: warnings.length,
        sent: records.map((r) => r.uuid),
        later: later.map((r) => r.uuid),
      };
    }, sink.url);
    expectHeldThenStored(result, sink.uuids());
    await reload(page);
    const found = await page.evaluate(async () => {
      const outbox = homing.idb({ name: 'fullorigin' });
      const batch = await outbox.claim(1000, Infinity);
      return batch?.records.map((r) => r.uuid) ?? [];
    });
    expect(found).toEqual(result.later);
  });

  it("removes no stored localStorage record at the browser's real localStorage quota: the rest is held in memory, every event kept once, in order", async () => {
    const page = await openPage();
    const result = await page.evaluate(async () => {
      // Fill the origin's localStorage with someone else's data, leaving a little room.
      const block = 'z'.repeat(256 * 1024);
      let n = 0;
      try {
        for (;;) localStorage.setItem(`other-${n++}`, block);
      } catch {
        // full
      }
      localStorage.removeItem(`other-${n - 2}`);
      const outbox = homing.local({ name: 'lsquota' });
      const drops = homing.countDrops(outbox);
      const total = 400;
      let refused = 0;
      for (let i = 0; i < total; i += 10) {
        outbox.append(homing.makeRecords('s', i, 10, 2_000));
        await outbox.persist().catch(() => refused++);
      }
      const size = await outbox.size();
      const kept: string[] = [];
      for (let b = await outbox.claim(1000, Infinity); b !== null; b = await outbox.claim(1000, Infinity)) {
        kept.push(...b.records.map((r) => r.uuid));
        await outbox.ack(b);
      }
      return { drops, refused, events: size.events, kept, total };
    });
    // 800 KB of records in about 256 K characters of room, within the outbox's 1 MiB.
    expect(result.refused).toBeGreaterThan(0);
    expect(result.drops).toEqual({});
    expect(result.events).toBe(result.total);
    expect(result.kept).toEqual(
      Array.from({ length: result.total }, (_, i) => `s-${String(i).padStart(6, '0')}`),
    );
  });

  it("on a localStorage full of the app's own data, delivers every event once from memory, and stores them once the app frees room", async () => {
    sink.requests.length = 0;
    const page = await openPage();
    const result = await page.evaluate(async (host) => {
      // The app fills the origin's localStorage at its real quota, in ever smaller values until
      // not even 64 characters fit.
      let filled = 0;
      let n = 0;
      for (const size of [256 * 1024, 16 * 1024, 1024, 64]) {
        const block = 'a'.repeat(size);
        for (;;) {
          try {
            localStorage.setItem(`app-${n++}`, block);
            filled += size;
          } catch {
            break;
          }
        }
      }
      const logger = homing.recordingLogger();
      const outbox = homing.local({ name: 'lsfull', logger });
      const drops = homing.countDrops(outbox);
      const records = homing.makeRecords('l', 0, 60, 2_000);
      outbox.append(records);
      const refused = await outbox.persist().then(
        () => null,
        (error: Error) => error.message,
      );
      const held = (await outbox.size()).events;
      const delivery = homing.startDelivery(outbox, {
        endpoints: [{ destination: 'homing', host, key: 'project-key' }],
        batchSize: 20,
        intervalMs: 50,
        flushOnExit: false,
      });
      const deadline = Date.now() + 30_000;
      while ((await outbox.size()).events > 0 && Date.now() < deadline) await delivery.flush(2_000);
      const left = (await outbox.size()).events;
      await delivery.shutdown(2_000);

      // Still full: held again; then the app removes its data and the outbox stores them.
      const later = homing.makeRecords('m', 0, 30, 2_000);
      outbox.append(later);
      const refusedAgain = await outbox.persist().then(
        () => false,
        () => true,
      );
      for (let i = 0; i < n; i++) localStorage.removeItem(`app-${i}`);
      let stored = false;
      while (!stored && Date.now() < deadline + 30_000) {
        stored = await outbox.persist().then(
          () => true,
          () => false,
        );
        if (!stored) await homing.sleep(200);
      }
      await outbox.close();
      const warnings = logger.lines.filter((l) => l.startsWith('warn') && l.includes('held in memory only'));
      return {
        filled,
        refused,
        held,
        left,
        drops,
        refusedAgain,
        stored,
        warnings: warnings.length,
        sent: records.map((r) => r.uuid),
        later: later.map((r) => r.uuid),
      };
    }, sink.url);
    expectHeldThenStored(result, sink.uuids());
    // Not one per event or per group: once per episode.
    expect(result.warnings).toBeLessThanOrEqual(2);
    await reload(page);
    const found = await page.evaluate(async () => {
      const outbox = homing.local({ name: 'lsfull' });
      const batch = await outbox.claim(1000, Infinity);
      return batch?.records.map((r) => r.uuid) ?? [];
    });
    expect(found).toEqual(result.later);
  });

  it('keeps identify() across page loads (localStorage), until reset(), which renews the install id for the loads after', async () => {
    sink.requests.length = 0;
    const page = await openPage();
    const load = (steps: string[]): Promise<{ ids: string[]; kept: string | null }> =>
      page.evaluate(
        async ({ host, steps }) => {
          const uuids: string[] = [];
          const ids: string[] = [];
          const t = homing.telemetry(
            {
              name: 'who',
              endpoints: [{ destination: 'homing', host, key: 'k' }],
              delivery: { intervalMs: 50 },
            },
            uuids,
            ids,
          );
          for (const step of steps) {
            if (step.startsWith('identify:')) t.identify(step.slice('identify:'.length));
            else if (step === 'reset') t.reset();
            else t.track(step);
          }
          await t.flush({ timeoutMs: 10_000 });
          await t.shutdown({ timeoutMs: 5_000 });
          return { ids, kept: localStorage.getItem('homing:who:identity') };
        },
        { host: sink.url, steps },
      );
    const first = await load(['anonymous', 'identify:user-42', 'signed.in']);
    await reload(page);
    const second = await load(['next.load', 'reset', 'signed.out']);
    await reload(page);
    const third = await load(['after.logout']);
    const install = first.ids[0]!.split('=')[1]!;
    expect(install).toMatch(/^[0-9a-f-]{36}$/);
    expect(first).toEqual({
      ids: [`anonymous=${install}`, '$identify=user-42', 'signed.in=user-42'],
      kept: 'user-42',
    });
    // A new anonymous id after the logout: the old one is user-42's in PostHog and Segment.
    const renewed = second.ids[1]!.split('=')[1]!;
    expect(renewed).toMatch(/^[0-9a-f-]{36}$/);
    expect(renewed).not.toBe(install);
    expect(second).toEqual({ ids: ['next.load=user-42', `signed.out=${renewed}`], kept: null });
    expect(third).toEqual({ ids: [`after.logout=${renewed}`], kept: null });
    await expect.poll(() => sink.uuids().length, { timeout: 10_000 }).toBe(6);
  });

  it('delivers from the page to a cross-origin sink with Delivery, each event once after dedup, across a reload mid-way', async () => {
    sink.requests.length = 0;
    let release!: () => void;
    sink.hold = new Promise<void>((resolve) => (release = resolve));
    const page = await openPage();
    const sent = await page.evaluate(async (host) => {
      const outbox = homing.idb({ name: 'e2e' });
      const records = homing.makeRecords('e', 0, 120);
      outbox.append(records);
      await outbox.persist();
      homing.startDelivery(outbox, {
        endpoints: [{ destination: 'homing', host, key: 'project-key' }],
        batchSize: 20,
        intervalMs: 50,
        flushOnExit: false,
      });
      return records.map((r) => r.uuid);
    }, sink.url);
    // The first batch reached the sink and waits for its answer: reload the page now.
    await expect.poll(() => sink.requests.length, { timeout: 15_000 }).toBeGreaterThan(0);
    await reload(page);
    // What left the first page: its batches in flight (`concurrency` of them) and its unload send.
    const beforeReload = new Set(sink.uuids());
    release();
    sink.hold = undefined;
    await page.evaluate(async (host) => {
      const outbox = homing.idb({ name: 'e2e' });
      homing.keep.outbox = outbox;
      const delivery = homing.startDelivery(outbox, {
        endpoints: [{ destination: 'homing', host, key: 'project-key' }],
        batchSize: 20,
        intervalMs: 50,
        flushOnExit: false,
      });
      await delivery.flush(20_000);
    }, sink.url);
    await expect.poll(() => new Set(sink.uuids()).size, { timeout: 20_000 }).toBe(120);
    const received = sink.uuids();
    expect(new Set(received)).toEqual(new Set(sent));
    // At least once: only what had left the first page may have come twice, each at most twice.
    const counts = new Map<string, number>();
    for (const uuid of received) counts.set(uuid, (counts.get(uuid) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice.every(([uuid, n]) => n === 2 && beforeReload.has(uuid))).toBe(true);
    expect(beforeReload.size).toBeLessThan(120);
    expect(
      await page.evaluate(
        async () => (await (homing.keep.outbox as ReturnType<typeof homing.idb>).size()).events,
      ),
    ).toBe(0);
    // Regular sends carry an Authorization header: CORS preflights answered by the sink.
    expect(sink.preflights).toBeGreaterThan(0);
  });

  it('an event the sink fails on every time is found and dead-lettered in IndexedDB; every other event is delivered', async () => {
    sink.requests.length = 0;
    const page = await openPage();
    const sent = await page.evaluate(() => homing.makeRecords('p', 0, 120).map((r) => r.uuid));
    const poison = sent[37]!;
    sink.failOn = poison;
    try {
      const dead = await page.evaluate(async (host) => {
        const outbox = homing.idb({ name: 'poison' });
        outbox.append(homing.makeRecords('p', 0, 120));
        await outbox.persist();
        const delivery = homing.startDelivery(outbox, {
          endpoints: [{ destination: 'homing', host, key: 'project-key' }],
          batchSize: 20,
          intervalMs: 50,
          retry: { initialMs: 100, maxMs: 200 },
          flushOnExit: false,
        });
        const deadline = Date.now() + 30_000;
        while ((await outbox.size()).events > 0 && Date.now() < deadline) await delivery.flush(2_000);
        return (await outbox.listDeadLetters()).map((d) => ({ uuid: d.record.uuid, reason: d.reason }));
      }, sink.url);
      expect(dead).toEqual([{ uuid: poison, reason: expect.stringMatching(/HTTP 500.*this event alone/) }]);
      const accepted = sink.requests.filter((r) => !r.uuids.includes(poison)).flatMap((r) => r.uuids);
      expect(new Set(accepted)).toEqual(new Set(sent.filter((u) => u !== poison)));
    } finally {
      sink.failOn = undefined;
    }
  });

  it('on page hide sends what fits in 64 KB as one text/plain keepalive request (no preflight needed)', async () => {
    sink.requests.length = 0;
    const page = await openPage();
    const appended = await page.evaluate(async (host) => {
      const outbox = homing.idb({ name: 'unload' });
      homing.keep.outbox = outbox;
      const records = homing.makeRecords('u', 0, 500, 300);
      outbox.append(records);
      await outbox.persist();
      // A long interval: nothing goes out before the page is hidden.
      homing.startDelivery(outbox, {
        endpoints: [{ destination: 'homing', host, key: 'project-key' }],
        batchSize: 1000,
        intervalMs: 600_000,
      });
      return records.map((r) => r.uuid);
    }, sink.url);
    await page.evaluate(() => {
      Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await expect.poll(() => sink.requests.length, { timeout: 15_000 }).toBe(1);
    const [request] = sink.requests;
    expect(request!.contentType).toBe('text/plain;charset=UTF-8');
    expect(request!.apiKey).toBe('project-key');
    expect(request!.bodyBytes).toBeLessThanOrEqual(64 * 1024);
    expect(request!.uuids.length).toBeGreaterThan(100);
    expect(request!.uuids).toEqual(appended.slice(0, request!.uuids.length));
    // The answer arrived (the page lived on): those records are acked, the rest wait.
    await expect
      .poll(
        () =>
          page.evaluate(
            async () => (await (homing.keep.outbox as ReturnType<typeof homing.idb>).size()).events,
          ),
        { timeout: 10_000 },
      )
      .toBe(500 - request!.uuids.length);
  });
});
