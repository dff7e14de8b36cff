import { afterEach, describe, expect, it } from 'vitest';
import { FakeLocks } from './indexeddb/fakeLocks.test-helpers.js';
import { createLocalStorageOutbox } from './localStorage.js';
import type { LocalStorageOutbox } from './localStorage.js';
import { SharedStorage } from './localStorage/staleStorage.test-helpers.js';
import type { StaleStorageView } from './localStorage/staleStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';

/**
 * Several tabs on one localStorage outbox, as Chromium runs them: Web Locks are exact (granted by
 * the browser process), but another tab's localStorage write reaches this tab late, so the tab
 * that takes the lock may still see an older copy of a chunk (`staleStorage.test-helpers.ts`).
 */
describe('LocalStorageOutbox, tabs that see each other late', () => {
  const open: LocalStorageOutbox[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });
  function tab(view: StaleStorageView, locks: FakeLocks): LocalStorageOutbox {
    const o = createLocalStorageOutbox({ storage: view, locks, flushOnHide: false });
    open.push(o);
    return o;
  }

  it("loses none of a tab's records when the next lock holder acks from an older copy of that tab's chunk", async () => {
    const shared = new SharedStorage();
    const locks = new FakeLocks();
    const viewA = shared.view();
    const viewB = shared.view();
    const a = tab(viewA, locks);
    const b = tab(viewB, locks);
    const first = makeRecords(3);
    const second = makeRecords(3);
    // Tab A writes two groups, taking and letting go of the free lock for each.
    a.append(first);
    await a.persist();
    viewB.sync();
    a.append(second);
    await a.persist();
    // Tab B takes the lock before A's second write has reached it, and delivers what it sees.
    const batch = await b.claim(100, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(first.map((r) => r.uuid));
    await b.ack(batch!);
    shared.syncAll();
    // Every record of the second group is still stored, and is delivered next.
    const rest = await b.claim(100, Infinity);
    expect(rest?.records.map((r) => r.uuid)).toEqual(second.map((r) => r.uuid));
  });

  it('delivers every stored record across random appends, claims, late views, reloads and closes (seeded)', async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const lost = await simulate(seed);
      expect(lost, `seed ${seed}`).toEqual([]);
    }
  });
});

/** A small deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Three tabs append, persist, claim and ack at random, see each other's writes late, and are
 * reloaded or closed and reopened at random. Answers the uuids persisted by a tab that neither
 * reached the "sink" (an ack) nor remain stored at the end.
 */
async function simulate(seed: number): Promise<string[]> {
  const next = random(seed);
  const pick = (n: number): number => Math.floor(next() * n);
  const shared = new SharedStorage();
  const locks = new FakeLocks();
  const views = [shared.view(), shared.view(), shared.view()];
  const make = (view: StaleStorageView): LocalStorageOutbox =>
    createLocalStorageOutbox({ storage: view, locks, flushOnHide: false, chunkChars: 2048 });
  const tabs = views.map(make);
  const persisted = new Set<string>();
  const sent = new Set<string>();
  try {
    for (let step = 0; step < 150; step++) {
      const i = pick(tabs.length);
      const outbox = tabs[i]!;
      const action = next();
      if (action < 0.45) {
        const records = makeRecords(1 + pick(4));
        outbox.append(records);
        await outbox.persist();
        for (const r of records) persisted.add(r.uuid);
      } else if (action < 0.75) {
        const batch = await outbox.claim(1 + pick(6), Infinity);
        if (batch !== null) {
          if (next() < 0.5) views[i]!.sync(pick(4));
          for (const r of batch.records) sent.add(r.uuid);
          await outbox.ack(batch);
        }
      } else if (action < 0.95) {
        views[pick(views.length)]!.sync(pick(6));
      } else {
        // A reload: the page goes (its lock with it) and a new outbox starts on the same storage.
        await outbox.close();
        tabs[i] = make(views[i]!);
      }
    }
    shared.syncAll();
    for (const outbox of tabs) {
      for (let batch = await outbox.claim(1000, Infinity); batch !== null;) {
        for (const r of batch.records) sent.add(r.uuid);
        await outbox.ack(batch);
        batch = await outbox.claim(1000, Infinity);
      }
    }
    return [...persisted].filter((uuid) => !sent.has(uuid));
  } finally {
    for (const outbox of tabs) await outbox.close();
  }
}
