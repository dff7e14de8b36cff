import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ANALYZE_LOCK } from './postgres-analyze.js';
import { MIGRATION_LOCK } from './postgres-apply-migrations.js';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

interface EventsStats {
  analyzed: boolean;
  analyzeCount: number;
  reltuples: number;
}

/**
 * The events table's planner statistics are kept by the store itself: a bulk load left them
 * missing until someone ran ANALYZE by hand, and /api/events took 2.5-4.5 s a page of 1 M events.
 */
describe.skipIf(!reachable)('PostgresStore: planner statistics of the events table', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function database(): Promise<{ url: string; client: pg.Client; stats: () => Promise<EventsStats> }> {
    const db = await freshDatabase();
    cleanup.push(() => db.drop());
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanup.push(() => client.end());
    // Each read its own transaction: statistics views hold still within one.
    const stats = async (): Promise<EventsStats> => {
      const r = await client.query<{
        last_analyze: Date | null;
        analyze_count: string;
        reltuples: number;
      }>(
        `SELECT s.last_analyze, s.analyze_count, c.reltuples
         FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'events'`,
      );
      const row = r.rows[0]!;
      return {
        analyzed: row.last_analyze !== null,
        analyzeCount: Number(row.analyze_count),
        reltuples: Number(row.reltuples),
      };
    };
    return { url: db.url, client, stats };
  }

  async function open(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const store = new PostgresStore({ url, ...options });
    cleanup.push(() => store.close());
    await store.migrate();
    return store;
  }

  it('analyzes the table after a bulk insert through the store, nobody asking', async () => {
    const { url, stats } = await database();
    const store = await open(url, { statisticsCheckMs: 100 });
    const p = await store.createProject('p');
    const n = 5000;
    for (let i = 0; i < n; i += 1000) {
      await store.insertEvents(
        p.id,
        Array.from({ length: 1000 }, (_, j) => ev({ distinctId: `u${(i + j) % 50}` })),
      );
    }
    await vi.waitFor(async () => expect(await stats()).toMatchObject({ analyzed: true, reltuples: n }), {
      timeout: 20_000,
      interval: 100,
    });
  });

  it('analyzes a table loaded before the store started, once its migrations are done', async () => {
    const { url, client, stats } = await database();
    // Another tool's bulk load (a pg_restore, a COPY) into the schema an earlier start made.
    const first = await open(url, { statisticsCheckMs: 0 });
    const p = await first.createProject('p');
    await first.close();
    await client.query(
      `INSERT INTO events (project_pk, key, event, distinct_id, ts, received_at, properties)
       SELECT pr.pk, uuid_send(gen_random_uuid()), 'e', 'u' || (i % 100), i, '2026-01-01T00:00:00.000Z', '{}'
       FROM projects pr, generate_series(1, 3000) i WHERE pr.id = $1`,
      [p.id],
    );
    expect(await stats()).toMatchObject({ analyzed: false, reltuples: -1 });
    // An interval long enough that only the look after migrations can be the one that analyzes.
    await open(url, { statisticsCheckMs: 3_600_000 });
    await vi.waitFor(async () => expect(await stats()).toMatchObject({ analyzed: true, reltuples: 3000 }), {
      timeout: 20_000,
      interval: 100,
    });
  });

  it('never analyzes in two stores at once: the one that finds the lock taken skips its turn', async () => {
    const { url, client, stats } = await database();
    const a = await open(url, { statisticsCheckMs: 0 });
    const b = await open(url, { statisticsCheckMs: 0 });
    const p = await a.createProject('p');
    await a.insertEvents(
      p.id,
      Array.from({ length: 2000 }, () => ev()),
    );
    // Another process analyzing holds the lock: this store leaves it alone.
    await client.query('SELECT pg_advisory_lock($1)', [ANALYZE_LOCK]);
    expect(await a.analyzeIfStale()).toBe('busy');
    expect(await stats()).toMatchObject({ analyzed: false, analyzeCount: 0 });
    await client.query('SELECT pg_advisory_unlock($1)', [ANALYZE_LOCK]);

    // Both at once: one analyzes; the other finds the lock taken, or the statistics current.
    const outcomes = await Promise.all([a.analyzeIfStale(), b.analyzeIfStale()]);
    expect(outcomes.filter((o) => o === 'analyzed')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'analyzed')).toEqual([expect.stringMatching(/^(busy|current)$/)]);
    expect(await stats()).toMatchObject({ analyzed: true, analyzeCount: 1, reltuples: 2000 });
    // Current now: neither analyzes again.
    expect(await a.analyzeIfStale()).toBe('current');
    expect(await b.analyzeIfStale()).toBe('current');
    expect((await stats()).analyzeCount).toBe(1);
  });

  it('leaves the table to a migration under way, and a table another session locked, without reporting an error', async () => {
    const { url, client, stats } = await database();
    const errors: unknown[] = [];
    const store = await open(url, { statisticsCheckMs: 0, onBackgroundError: (e) => errors.push(e) });
    const p = await store.createProject('p');
    await store.insertEvents(
      p.id,
      Array.from({ length: 2000 }, () => ev()),
    );
    // A starting server's migrations hold MIGRATION_LOCK: an ANALYZE then would make a migration
    // that alters the table queue ingest behind it.
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    expect(await store.analyzeIfStale()).toBe('busy');
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    // A table locked elsewhere (LOCK TABLE, a schema change): left for the next look, quietly.
    await client.query('BEGIN');
    await client.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    try {
      expect(await store.analyzeIfStale()).toBe('busy');
    } finally {
      await client.query('ROLLBACK');
    }
    expect(errors).toEqual([]);
    expect(await stats()).toMatchObject({ analyzed: false, analyzeCount: 0 });
    expect(await store.analyzeIfStale()).toBe('analyzed');
  });
});
