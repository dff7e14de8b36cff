import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore } from './sqlite.js';
import { ev } from './store.contract.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

/** Runs `work` while a chain of setImmediate callbacks samples `look()` on every turn it gets. */
async function sampleDuring<T, S>(work: Promise<T>, look: () => S): Promise<{ result: T; samples: S[] }> {
  const samples: S[] = [];
  let done = false;
  const sampling = (async () => {
    while (!done) {
      samples.push(look());
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();
  try {
    return { result: await work, samples };
  } finally {
    done = true;
    await sampling;
  }
}

async function insertMany(store: SqliteStore, projectId: string, n: number, make: (i: number) => object) {
  for (let i = 0; i < n; i += 1000) {
    const batch = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ev(make(i + j)));
    await store.insertEvents(projectId, batch);
  }
  await store.drain();
}

// Work on many events leaves turns to the event loop (health checks, other projects' ingest):
// one statement over a large person or range held it for seconds.
describe('SqliteStore: erasure and stats of many events', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (): Promise<SqliteStore> => {
    const dir = tempDir();
    dirs.push(dir);
    const store = await openSqlite({ dataDir: dir });
    stores.push(store);
    return store;
  };

  it('erases a person with many events in batches that commit between turns, and logs the total', async () => {
    const store = await open();
    const p = await store.createProject('p');
    const n = 12_345;
    await insertMany(store, p.id, n, (i) => ({
      distinctId: i % 10 === 0 ? 'bob' : 'alice',
      timestamp: new Date(T0 + i).toISOString(),
    }));
    const alice = n - Math.ceil(n / 10);
    const reader = new Database(store.path, { readonly: true });
    try {
      const left = reader.prepare("SELECT count(*) FROM events WHERE distinct_id = 'alice'").pluck();
      const { result, samples } = await sampleDuring(store.erasePerson(p.id, 'alice', 'admin'), () =>
        Number(left.get()),
      );
      expect(result).toBe(alice);
      expect(Number(left.get())).toBe(0);
      // Other work ran while part of the person was deleted and part was not.
      expect(samples.some((c) => c > 0 && c < alice)).toBe(true);
      expect(reader.prepare("SELECT count(*) FROM events WHERE distinct_id = 'bob'").pluck().get()).toBe(
        n - alice,
      );
    } finally {
      reader.close();
    }
    expect(await store.listErasures({ projectId: p.id, limit: 10 })).toMatchObject([
      { distinctId: 'alice', deletedCount: alice },
    ]);
  });

  it('counts a large range in pieces between turns, with the same buckets, many events on one timestamp included', async () => {
    const store = await open();
    const p = await store.createProject('p');
    // 30 000 events over 50 minutes, and 25 000 more on one millisecond (a piece of their own).
    const spread = 30_000;
    const together = 25_000;
    await insertMany(store, p.id, spread + together, (i) =>
      i < spread
        ? { event: i % 3 === 0 ? 'signup' : 'page_view', timestamp: new Date(T0 + i * 100).toISOString() }
        : { event: 'burst', timestamp: new Date(T0 + 20 * MIN).toISOString() },
    );
    let turns = 0;
    const { result: buckets, samples } = await sampleDuring(
      store.stats({
        projectId: p.id,
        from: new Date(T0).toISOString(),
        to: new Date(T0 + 60 * MIN).toISOString(),
        intervalSeconds: (10 * MIN) / 1000,
      }),
      () => ++turns,
    );
    expect(samples.length).toBeGreaterThanOrEqual(3);
    const expected = Array.from({ length: 6 }, (_, b) => {
      const byEvent: Record<string, number> = {};
      for (let i = 0; i < spread; i++) {
        if (Math.floor((i * 100) / (10 * MIN)) !== b) continue;
        const name = i % 3 === 0 ? 'signup' : 'page_view';
        byEvent[name] = (byEvent[name] ?? 0) + 1;
      }
      if (b === 2) byEvent['burst'] = together;
      return byEvent;
    });
    expect(buckets.map((x) => ({ ...x.byEvent }))).toEqual(expected);
    expect(buckets.reduce((sum, x) => sum + x.total, 0)).toBe(spread + together);
  });
});
