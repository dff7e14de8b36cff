import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TxQuery } from './postgres-connections.js';
import { ErasureSweeps, type InTransaction } from './postgres-erasure-sweeps.js';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

/**
 * The second deletion after an erasure is timed by the database's clock: several `homing serve`
 * processes on hosts whose clocks differ agree on when it is due. A process's clock skewed by a
 * minute is simulated by faking Date only (the driver's timers run as usual) while it erases or
 * looks for due sweeps.
 */
describe.skipIf(!reachable)('PostgresStore: the second deletion by the database clock', () => {
  const SKEW_MS = 60_000;
  const SWEEP_MS = 30_000;
  const old = '2026-01-01T00:00:00.000Z';
  let db: { url: string; drop: () => Promise<void> };
  let admin: pg.Client;
  const stores: PostgresStore[] = [];
  const sweepers: ErasureSweeps[] = [];
  /** What the test's sweepers failed with (runDue reports a failure, it does not throw it). */
  const failures: unknown[] = [];

  beforeAll(async () => {
    db = await freshDatabase();
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterEach(async () => {
    vi.useRealTimers();
    for (const s of sweepers.splice(0)) await s.stop();
    await closeStores();
    expect(failures.splice(0)).toEqual([]);
    await admin.query('TRUNCATE projects, events, erasures, suppressions, erased_keys');
  });
  afterAll(async () => {
    await admin?.end();
    await db?.drop();
  });

  async function open(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const s = new PostgresStore({ url: db.url, ...options });
    stores.push(s);
    await s.migrate();
    return s;
  }

  /** Closes the stores: their own looks stop, and only the test's sweeper runs the sweep. */
  async function closeStores(): Promise<void> {
    for (const s of stores.splice(0)) await s.close();
  }

  /** Runs `fn` with this process's clock (Date) off by `skewMs`. */
  async function skewed<T>(skewMs: number, fn: () => Promise<T>): Promise<T> {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + skewMs });
    try {
      return await fn();
    } finally {
      vi.useRealTimers();
    }
  }

  /** Another process's look for due sweeps (never on a timer here: the test calls runDue). */
  function sweeper(): ErasureSweeps {
    const inTransaction: InTransaction = async (fn) => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query('BEGIN');
        const query: TxQuery = (sql, params) => c.query(sql, params);
        const result = await fn(query);
        await c.query('COMMIT');
        return result;
      } finally {
        await c.end();
      }
    };
    const s = new ErasureSweeps(inTransaction, (err) => failures.push(err));
    sweepers.push(s);
    return s;
  }

  /** The sweep is due now (by the database's clock), as if its delay had passed. */
  async function makeDue(): Promise<void> {
    await admin.query(
      'UPDATE erasures SET sweep_due_ms = (extract(epoch from clock_timestamp()) * 1000)::bigint - 1 WHERE sweep_due_ms IS NOT NULL',
    );
  }

  /** alice's stored events and the erasure's count. */
  async function aliceLeft(): Promise<{ events: number; deletedCount: number }> {
    const events = await admin.query<{ n: string }>(
      "SELECT count(*) AS n FROM events WHERE distinct_id = 'alice'",
    );
    const erasures = await admin.query<{ deleted_count: number }>('SELECT deleted_count FROM erasures');
    return { events: Number(events.rows[0]!.n), deletedCount: erasures.rows[0]!.deleted_count };
  }

  /** The erasure's sweep mark less the database's clock now, ms; null once swept. */
  async function dueInMs(): Promise<number | null> {
    const r = await admin.query<{ due_in: string | null }>(
      `SELECT sweep_due_ms - (extract(epoch from clock_timestamp()) * 1000)::bigint AS due_in FROM erasures`,
    );
    expect(r.rows).toHaveLength(1);
    return r.rows[0]!.due_in === null ? null : Number(r.rows[0]!.due_in);
  }

  it.each([
    ['behind', -SKEW_MS],
    ['ahead', SKEW_MS],
  ])(
    'an eraser whose clock is a minute %s marks the sweep due erasureSweepMs from now by the database',
    async (_, skewMs) => {
      const eraser = await open({ erasureSweepMs: SWEEP_MS });
      const p = await eraser.createProject('p');
      await skewed(skewMs, () => eraser.erasePerson(p.id, 'alice', 'admin'));
      // Due SWEEP_MS after the erasure by the database's clock (less the test's own few ms), not
      // a minute before or after that: behind, every other process would sweep at its next look,
      // before it had read the erasure.
      const dueIn = await dueInMs();
      expect(dueIn).toBeGreaterThan(SWEEP_MS - 10_000);
      expect(dueIn).toBeLessThanOrEqual(SWEEP_MS + 1);
    },
  );

  it('a sweeper whose clock runs ahead does not sweep early: what a process stores before it reads the erasure goes at the due time', async () => {
    const eraser = await open({ erasureSweepMs: SWEEP_MS });
    // A process that read the erasure list before the erasure and reads it again only in a minute.
    const stale = await open({ suppressionRefreshMs: 60_000 });
    const p = await eraser.createProject('p');
    await eraser.erasePerson(p.id, 'alice', 'admin');
    // A third process, its clock a minute ahead, looks for due sweeps: none is due yet.
    const ahead = sweeper();
    await skewed(SKEW_MS, () => ahead.runDue());
    const dueIn = await dueInMs();
    expect(dueIn, 'swept before it was due').not.toBeNull();
    expect(dueIn).toBeGreaterThan(0);
    // Meanwhile the stale process stores one of alice's old events (it has not read the erasure).
    expect(await stale.insertEvents(p.id, [ev({ distinctId: 'alice', timestamp: old })])).toMatchObject({
      accepted: 1,
    });
    await closeStores();
    // The due time comes (moved forward rather than waited for): the sweep takes that event.
    await makeDue();
    await skewed(SKEW_MS, () => ahead.runDue());
    expect(await dueInMs()).toBeNull();
    expect(await aliceLeft()).toEqual({ events: 0, deletedCount: 1 });
  });

  it('a sweeper whose clock runs behind still sweeps once due by the database clock', async () => {
    const eraser = await open({ erasureSweepMs: SWEEP_MS });
    const stale = await open({ suppressionRefreshMs: 60_000 });
    const p = await eraser.createProject('p');
    await eraser.erasePerson(p.id, 'alice', 'admin');
    await stale.insertEvents(p.id, [ev({ distinctId: 'alice', timestamp: old })]);
    await closeStores();
    await makeDue();
    await skewed(-SKEW_MS, () => sweeper().runDue());
    expect(await dueInMs()).toBeNull();
    expect(await aliceLeft()).toEqual({ events: 0, deletedCount: 1 });
  });
});
