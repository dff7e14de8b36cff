import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore, SqliteStoreOptions } from './sqlite.js';
import { ev } from './store.contract.js';
import type { EventQuery, StoredEvent } from './store.js';

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
    const {
      result: { buckets },
      samples,
    } = await sampleDuring(
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

// Reads and retention on many events leave turns too: a person's export, a page filtered by
// event and person, retention's deletes (each of them held the loop 0.5-10 s on 2M events).
describe('SqliteStore: export, filtered pages and retention of many events', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (options: Partial<SqliteStoreOptions> = {}): Promise<SqliteStore> => {
    const dir = tempDir();
    dirs.push(dir);
    const store = await openSqlite({ ...options, dataDir: dir });
    stores.push(store);
    return store;
  };

  it('exports a person with many events a page per turn, to a consumer that keeps up', async () => {
    const store = await open();
    const p = await store.createProject('p');
    const n = 3_210;
    await insertMany(store, p.id, n, (i) => ({
      distinctId: i % 3 === 0 ? 'bob' : 'alice',
      timestamp: new Date(T0 + i).toISOString(),
    }));
    const alice = n - Math.ceil(n / 3);
    const got: StoredEvent[] = [];
    const { samples } = await sampleDuring(
      (async () => {
        for await (const e of store.personEvents(p.id, 'alice')) got.push(e);
      })(),
      () => got.length,
    );
    expect(got.length).toBe(alice);
    expect(got.every((e) => e.distinctId === 'alice')).toBe(true);
    const ts = got.map((e) => Date.parse(e.timestamp));
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    // Other work ran while part of the person was read and part was not.
    expect(samples.some((c) => c > 0 && c < alice)).toBe(true);
  });

  it('pages a filter by event and person in windows between turns, with the same rows', async () => {
    const store = await open();
    const p = await store.createProject('p');
    // bob: 24 000 events, one in 1000 named 'rare'; alice's 'rare' events must not show up.
    const n = 30_000;
    await insertMany(store, p.id, n, (i) => ({
      distinctId: i % 5 === 0 ? 'alice' : 'bob',
      event: i % 1000 === 1 || i % 5 === 0 ? 'rare' : 'page_view',
      timestamp: new Date(T0 + Math.floor(i / 2) * 100).toISOString(),
    }));
    const expected = Array.from({ length: n }, (_, i) => i)
      .filter((i) => i % 5 !== 0 && i % 1000 === 1)
      .map((i) => T0 + Math.floor(i / 2) * 100)
      .reverse();
    const pages: number[][] = [];
    let before: EventQuery['before'];
    for (;;) {
      const page = await store.queryEvents({
        projectId: p.id,
        event: 'rare',
        distinctId: 'bob',
        limit: 7,
        before,
      });
      if (page.length === 0) break;
      expect(page.every((e) => e.event === 'rare' && e.distinctId === 'bob')).toBe(true);
      pages.push(page.map((e) => Date.parse(e.timestamp)));
      const last = page[page.length - 1]!;
      before = { tsMs: Date.parse(last.timestamp), seq: last.seq };
    }
    expect(pages.map((x) => x.length)).toEqual([7, 7, 7, 7, 2]);
    expect(pages.flat()).toEqual(expected);
    // With bounds: [since, until).
    const since = T0 + 300_000;
    const until = T0 + 1_200_000;
    const bounded = await store.queryEvents({
      projectId: p.id,
      event: 'rare',
      distinctId: 'bob',
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      limit: 1000,
    });
    expect(bounded.map((e) => Date.parse(e.timestamp))).toEqual(
      expected.filter((t) => t >= since && t < until),
    );
    // A name the person never sent: the whole person is read, in pieces between turns.
    let turns = 0;
    const { result, samples } = await sampleDuring(
      store.queryEvents({ projectId: p.id, event: 'never', distinctId: 'bob', limit: 1000 }),
      () => ++turns,
    );
    expect(result).toEqual([]);
    expect(samples.length).toBeGreaterThanOrEqual(3);
  });

  it('reads a page filtered by person on the person index, event name or not', async () => {
    const seen: string[] = [];
    const store = await open({
      openDatabase: (file, options) => {
        const db = new Database(file, options);
        const prepare = db.prepare.bind(db);
        db.prepare = ((sql: string) => {
          seen.push(sql);
          return prepare(sql);
        }) as typeof db.prepare;
        return db;
      },
    });
    const p = await store.createProject('p');
    await insertMany(store, p.id, 2000, (i) => ({
      distinctId: `u${i % 50}`,
      event: `e${i % 7}`,
      timestamp: new Date(T0 + i * 1000).toISOString(),
    }));
    const plans = async (q: Omit<EventQuery, 'projectId' | 'limit'>): Promise<string[]> => {
      seen.length = 0;
      await store.queryEvents({ projectId: p.id, limit: 100, ...q });
      const reads = seen.filter((s) => /^\s*SELECT\b[\s\S]*\bFROM events\b/.test(s));
      expect(reads.length).toBeGreaterThan(0);
      const reader = new Database(store.path, { readonly: true });
      try {
        return reads.map((sql) => {
          const nulls = Array.from({ length: (sql.match(/\?/g) ?? []).length }, () => null);
          const rows = reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...nulls) as { detail: string }[];
          return rows.map((r) => r.detail).join('; ');
        });
      } finally {
        reader.close();
      }
    };
    const since = new Date(T0 + 500_000).toISOString();
    for (const q of [
      { distinctId: 'u3', event: 'e2' },
      { distinctId: 'u3', event: 'e2', since },
      { distinctId: 'u3' },
      { distinctId: 'u3', since },
    ]) {
      for (const plan of await plans(q)) {
        expect(plan, JSON.stringify(q)).toMatch(/USING (COVERING )?INDEX events_person\b/);
        expect(plan, JSON.stringify(q)).not.toMatch(/events_name|TEMP B-TREE/);
      }
    }
    for (const plan of await plans({ event: 'e2', since })) expect(plan).toMatch(/INDEX events_name\b/);
  });

  it('deletes old events in transactions between turns, up to the limit asked for', async () => {
    const store = await open();
    const p = await store.createProject('p');
    const old = 12_000;
    await insertMany(store, p.id, old + 100, (i) => ({
      timestamp: new Date(i < old ? T0 - 86_400_000 + i : T0 + i).toISOString(),
    }));
    const reader = new Database(store.path, { readonly: true });
    try {
      const left = reader.prepare('SELECT count(*) FROM events WHERE ts < ?').pluck();
      const cutoff = new Date(T0).toISOString();
      const { result, samples } = await sampleDuring(store.deleteEventsBefore(cutoff, 10_000), () =>
        Number(left.get(T0)),
      );
      expect(result).toBe(10_000);
      // Other work ran while part of the batch was deleted and part was not.
      expect(samples.some((c) => c < old && c > old - 10_000)).toBe(true);
      expect(Number(left.get(T0))).toBe(old - 10_000);
      // Oldest first.
      expect(reader.prepare('SELECT min(ts) FROM events').pluck().get()).toBe(T0 - 86_400_000 + 10_000);
      expect(await store.deleteEventsBefore(cutoff, 10_000)).toBe(old - 10_000);
      expect(await store.deleteEventsBefore(cutoff, 10_000)).toBe(0);
      expect(reader.prepare('SELECT count(*) FROM events').pluck().get()).toBe(100);
    } finally {
      reader.close();
    }
  });

  it('refuses a retention cutoff that is not an ISO 8601 date, and reads a finer fraction exactly', async () => {
    const store = await open();
    const p = await store.createProject('p');
    // 2000-06-01: Date.parse('12') is 2001-12-01, so a lenient parse deletes this one.
    await store.insertEvents(p.id, [
      ev({ timestamp: '2000-06-01T00:00:00.000Z' }),
      ev({ timestamp: new Date(T0).toISOString() }),
    ]);
    for (const bad of [
      '12',
      'hello 5',
      '2026-02-30',
      'Tue, 01 Dec 2026 00:00:00 GMT',
      '2026-03-01T25:00Z',
      '',
    ]) {
      await expect(store.deleteEventsBefore(bad, 10), bad).rejects.toMatchObject({
        kind: 'invalid-input',
        message: expect.stringMatching(/cutoff must be an ISO 8601 date/),
      });
    }
    expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toHaveLength(2);
    // ts < cutoff: an event at T0 is before T0 + 0.1 µs.
    expect(await store.deleteEventsBefore('2026-03-01T00:00:00.0000001Z', 10)).toBe(2);
  });
});
