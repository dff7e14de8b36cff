import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore } from './sqlite.js';
import { countStatsInPieces } from './sqlite-stats.js';
import type { StatsResult } from './store.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

interface Row {
  ts: number;
  event: string;
}

describe('SQLite stats counted in pieces', () => {
  const dirs: string[] = [];
  const closing: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of closing.splice(0).reverse()) await c();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A migrated store with a project, and a connection of its own that writes its events table. */
  async function storeWith(
    rows: readonly Row[],
  ): Promise<{ store: SqliteStore; projectId: string; db: Database.Database; pk: number }> {
    const dir = tempDir();
    dirs.push(dir);
    const store = await openSqlite({ dataDir: dir });
    closing.push(() => store.close());
    const { id: projectId } = await store.createProject('p');
    const db = new Database(store.path);
    closing.push(() => db.close());
    const pk = db.prepare('SELECT pk FROM projects WHERE id = ?').pluck().get(projectId) as number;
    const insert = db.prepare(
      `INSERT INTO events (project_pk, key, event, distinct_id, ts, received_at, properties)
       VALUES (?, ?, ?, 'u', ?, '2026-03-01T00:00:00.000Z', '{}')`,
    );
    db.transaction(() => {
      for (const [i, r] of rows.entries()) {
        const key = Buffer.alloc(16);
        key.writeUInt32BE(i);
        insert.run(pk, key, r.event, r.ts);
      }
    })();
    return { store, projectId, db, pk };
  }

  /** What the answer must be, counted here row by row. */
  function expected(
    rows: readonly Row[],
    fromMs: number,
    toMs: number,
    intervalMs: number,
    maxEvents: number,
  ): StatsResult {
    const totals = new Map<string, number>();
    for (const r of rows)
      if (r.ts >= fromMs && r.ts < toMs) totals.set(r.event, (totals.get(r.event) ?? 0) + 1);
    const named = new Set(
      [...totals]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, maxEvents)
        .map(([name]) => name),
    );
    const buckets = Array.from({ length: Math.ceil((toMs - fromMs) / intervalMs) }, (_, b) => ({
      start: new Date(fromMs + b * intervalMs).toISOString(),
      total: 0,
      byEvent: {} as Record<string, number>,
      other: 0,
    }));
    for (const r of rows) {
      if (r.ts < fromMs || r.ts >= toMs) continue;
      const bucket = buckets[Math.floor((r.ts - fromMs) / intervalMs)]!;
      bucket.total++;
      if (named.has(r.event)) bucket.byEvent[r.event] = (bucket.byEvent[r.event] ?? 0) + 1;
      else bucket.other++;
    }
    return { buckets, otherNames: totals.size - named.size };
  }

  const plain = (r: StatsResult): StatsResult => ({
    otherNames: r.otherNames,
    buckets: r.buckets.map((b) => ({ ...b, byEvent: { ...b.byEvent } })),
  });

  it('answers the same in pieces of any size as in one, across piece and bucket boundaries and shared timestamps', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const rows: Row[] = [];
    // Before the range, on its first millisecond, spread over it, on the last millisecond of a
    // bucket and the first of the next, 40 on one millisecond, on the range's end (left out).
    rows.push({ ts: T0 - 1, event: 'a' }, { ts: T0, event: 'b' }, { ts: T0, event: 'c' });
    for (let i = 0; i < 90; i++) rows.push({ ts: T0 + i * 20_000, event: names[(i * 7) % 5]! });
    for (let i = 0; i < 6; i++) rows.push({ ts: T0 + 10 * MIN - 1, event: names[i % 5]! });
    for (let i = 0; i < 5; i++) rows.push({ ts: T0 + 10 * MIN, event: names[(i + 2) % 5]! });
    for (let i = 0; i < 40; i++) rows.push({ ts: T0 + 15 * MIN, event: names[i % 3]! });
    rows.push({ ts: T0 + 30 * MIN, event: 'e' });
    // Out of timestamp order in rowid, as events arrive.
    rows.push({ ts: T0 + 12 * MIN, event: 'd' }, { ts: T0 + 15 * MIN, event: 'e' });
    const { db, pk } = await storeWith(rows);
    const fromMs = T0;
    const toMs = T0 + 30 * MIN;
    const intervalMs = 5 * MIN;
    for (const maxEvents of [1000, 2]) {
      const want = expected(rows, fromMs, toMs, intervalMs, maxEvents);
      expect(want.buckets.reduce((n, b) => n + b.total, 0)).toBe(rows.length - 2);
      const q = { pk, fromMs, toMs, intervalMs, maxEvents };
      const whole = await countStatsInPieces(db, () => {}, q, { start: 1e9, min: 1e9, max: 1e9 });
      expect(plain(whole)).toEqual(want);
      for (const size of [1, 2, 3, 7, 39, 41]) {
        const pieces = await countStatsInPieces(db, () => {}, q, { start: size, min: size, max: size });
        expect(plain(pieces)).toEqual(want);
      }
    }
  });

  it('leaves the event loop turns while it counts many events that share one millisecond', async () => {
    // A date-only import puts a day's events on midnight. Cut by timestamp alone, they were one
    // statement: 1 000 000 of them held the event loop for 2-6 s.
    const n = 60_000;
    const rows = Array.from({ length: n }, (_, i): Row => ({ ts: T0 + 5 * MIN, event: `e${i % 4}` }));
    const { store, projectId } = await storeWith(rows);
    let turns = 0;
    let pending = true;
    const counting = (async () => {
      while (pending) {
        await new Promise((resolve) => setImmediate(resolve));
        if (pending) turns++;
      }
    })();
    const stats = await store
      .stats({
        projectId,
        from: new Date(T0).toISOString(),
        to: new Date(T0 + 10 * MIN).toISOString(),
        intervalSeconds: 60,
      })
      .finally(() => (pending = false));
    await counting;
    expect(stats.buckets[5]).toEqual({
      start: new Date(T0 + 5 * MIN).toISOString(),
      total: n,
      byEvent: { e0: n / 4, e1: n / 4, e2: n / 4, e3: n / 4 },
      other: 0,
    });
    // Pieces grow at most twofold from STATS_PIECE.start (2 000 rows): 60 000 rows are at least
    // five pieces, with a turn between each two.
    expect(turns).toBeGreaterThanOrEqual(4);
  });
});
