import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  freshDatabase,
  lockWaiters,
  openPostgres,
  postgresHarness,
  postgresReachable,
} from './postgres.test-helpers.js';
import { POSTGRES_DEFAULTS, PostgresStore } from './postgres.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { StoreError } from './errors.js';
import { suppressionHash } from './suppressions.js';
import { describeStoreContract, ev } from './store.contract.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgresStore', () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  describeStoreContract(
    'PostgreSQL',
    postgresHarness(() => db.url),
  );

  it('several processes starting at once migrate once, under the advisory lock', async () => {
    const fresh = await freshDatabase();
    try {
      const stores = Array.from({ length: 4 }, () => new PostgresStore({ url: fresh.url }));
      await Promise.all(stores.map((s) => s.migrate()));
      const p = await stores[0]!.createProject('p');
      expect(await stores[3]!.insertEvents(p.id, [ev()])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      await Promise.all(stores.map((s) => s.close()));
      const again = await openPostgres(fresh.url);
      expect(await again.listProjects()).toHaveLength(1);
      await again.close();
    } finally {
      await fresh.drop();
    }
  });

  it('honours another process’s erasure within the refresh interval (suppressionRefreshMs)', async () => {
    const fresh = await freshDatabase();
    const stores: PostgresStore[] = [];
    try {
      // Two `homing serve` processes on one database: `a` ingests, `b` answers the erasure.
      const a = await openPostgres(fresh.url);
      const b = await openPostgres(fresh.url);
      stores.push(a, b);
      const p = await a.createProject('p');
      const old = (who: string) => ev({ distinctId: who, timestamp: '2026-01-01T00:00:00.000Z' });
      await a.insertEvents(p.id, [old('alice'), old('bob')]);
      expect(await b.erasePerson(p.id, 'alice', 'admin')).toBe(1);
      // Past the interval `a` reads the table before its next batch (Date only is faked, so the
      // driver's own timers run as usual and nothing here depends on how long the test takes).
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1000 });
      try {
        expect(await a.insertEvents(p.id, [old('alice'), old('bob')])).toEqual({
          accepted: 1,
          duplicates: 0,
          erased: 1,
        });
      } finally {
        vi.useRealTimers();
      }
      expect(await a.queryEvents({ projectId: p.id, distinctId: 'alice', limit: 10 })).toEqual([]);
      // With no interval, every batch looks: a third process sees a fresh erasure at once.
      const c = new PostgresStore({ url: fresh.url, suppressionRefreshMs: 0 });
      await c.migrate();
      stores.push(c);
      await b.erasePerson(p.id, 'carol', 'admin');
      expect(await c.insertEvents(p.id, [old('carol')])).toEqual({ accepted: 0, duplicates: 0, erased: 1 });
    } finally {
      for (const s of stores) await s.close();
      await fresh.drop();
    }
  });

  it('deletes again, after erasureSweepMs, what another process stored before it saw the erasure', async () => {
    const fresh = await freshDatabase();
    const stores: PostgresStore[] = [];
    const open = async (options: Partial<ConstructorParameters<typeof PostgresStore>[0]>) => {
      const store = new PostgresStore({ url: fresh.url, ...options });
      await store.migrate();
      stores.push(store);
      return store;
    };
    try {
      // `a` ingests and reads other processes' erasures only once a minute; `b` erases.
      const a = await open({ suppressionRefreshMs: 60_000 });
      const b = await open({ erasureSweepMs: 200 });
      const p = await a.createProject('p');
      // Received now, as through the ingest routes (an erasure takes what was received before it too).
      const at = (who: string, timestamp: string) =>
        ev({ distinctId: who, timestamp, receivedAt: new Date().toISOString() });
      const old = '2026-01-01T00:00:00.000Z';
      await a.insertEvents(p.id, [at('alice', old)]);
      expect(await b.erasePerson(p.id, 'alice', 'admin')).toBe(1);
      // `a` has not read the entry yet: it stores alice's old events again, and one from after.
      const later = new Date(Date.now() + 60_000).toISOString();
      expect(
        await a.insertEvents(p.id, [at('alice', old), at('alice', later), at('bob', old)]),
      ).toMatchObject({
        accepted: 3,
        erased: 0,
      });
      const aliceTimestamps = async () =>
        (await a.queryEvents({ projectId: p.id, distinctId: 'alice', limit: 10 })).map((e) => e.timestamp);
      expect(await aliceTimestamps()).toHaveLength(2);
      await vi.waitFor(async () => expect(await aliceTimestamps()).toEqual([later]), { timeout: 5000 });
      expect(await a.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 })).toHaveLength(1);
      expect((await b.listErasures({ projectId: p.id, limit: 10 }))[0]).toMatchObject({
        distinctId: 'alice',
        deletedCount: 2,
      });

      // The erasing process stops before its second deletion is due (a deploy, a crash): the
      // deletion is kept in the erasure log, and another process runs it when it is due, after
      // the events it stored once the eraser was gone.
      const c = await open({ erasureSweepMs: 1500 });
      await a.insertEvents(p.id, [at('dave', old)]);
      await c.erasePerson(p.id, 'dave', 'admin');
      await c.close();
      expect(await a.insertEvents(p.id, [at('dave', old)])).toMatchObject({ accepted: 1, erased: 0 });
      expect(await a.queryEvents({ projectId: p.id, distinctId: 'dave', limit: 10 })).toHaveLength(1);
      await vi.waitFor(
        async () =>
          expect(await a.queryEvents({ projectId: p.id, distinctId: 'dave', limit: 10 })).toEqual([]),
        { timeout: 6000 },
      );
      expect((await a.listErasures({ projectId: p.id, limit: 1 }))[0]).toMatchObject({
        distinctId: 'dave',
        deletedCount: 2,
      });
    } finally {
      for (const s of stores) await s.close();
      await fresh.drop();
    }
  });

  it('a write slower than the second deletion allows looks again after its commit: an erased person stays erased', async () => {
    const fresh = await freshDatabase();
    const stores: PostgresStore[] = [];
    try {
      // `a` reads other processes' erasures once a minute; its next write comes 2 s after its
      // last read, later than the sweep delay (1 s) allows: as late as one held up behind a lock
      // or a full pool. `b`'s own second deletion is off, so only `a`'s look can catch it.
      const a = new PostgresStore({ url: fresh.url, suppressionRefreshMs: 60_000, erasureSweepMs: 1000 });
      const b = new PostgresStore({ url: fresh.url, erasureSweepMs: 0 });
      stores.push(a, b);
      await a.migrate();
      await b.migrate();
      const p = await a.createProject('p');
      const old = '2026-01-01T00:00:00.000Z';
      const later = new Date(Date.now() + 60_000).toISOString();
      await a.insertEvents(p.id, [ev({ distinctId: 'bob', timestamp: old })]);
      await b.erasePerson(p.id, 'erin', 'admin');
      // `a` has not read the entry; its own look after the write finds it. (Date only is faked,
      // so the driver's timers run as usual.)
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 2000 });
      try {
        // Received now, after the erasure (one received before it is erased whatever its timestamp).
        const receivedAt = new Date().toISOString();
        expect(
          await a.insertEvents(p.id, [
            ev({ distinctId: 'erin', timestamp: old, receivedAt }),
            ev({ distinctId: 'erin', timestamp: later, receivedAt }),
            ev({ distinctId: 'bob', timestamp: old, receivedAt }),
          ]),
        ).toEqual({ accepted: 2, duplicates: 0, erased: 1 });
      } finally {
        vi.useRealTimers();
      }
      expect(
        (await a.queryEvents({ projectId: p.id, distinctId: 'erin', limit: 10 })).map((e) => e.timestamp),
      ).toEqual([later]);
      expect(await a.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 })).toHaveLength(2);
    } finally {
      for (const s of stores) await s.close();
      await fresh.drop();
    }
  });

  it('times the second deletion from when the suppression entry committed, not from the request', async () => {
    const fresh = await freshDatabase();
    const store = await openPostgres(fresh.url);
    const locker = new pg.Client({ connectionString: fresh.url });
    try {
      const p = await store.createProject('p');
      await locker.connect();
      // The entry's insert waits 1.5 s (a lock, a slow commit): other processes cannot see it
      // before then, so a second deletion due 1 s after the request would already be past.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE suppressions IN SHARE MODE');
      const erasing = store.erasePerson(p.id, 'late', 'admin');
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const releasedAt = Date.now();
      await locker.query('COMMIT');
      await erasing;
      const row = (
        await locker.query<{ erased_at_ms: string; sweep_due_ms: string }>(
          'SELECT erased_at_ms, sweep_due_ms FROM erasures',
        )
      ).rows[0]!;
      expect(Number(row.sweep_due_ms)).toBeGreaterThanOrEqual(releasedAt + POSTGRES_DEFAULTS.erasureSweepMs);
      expect(Number(row.erased_at_ms)).toBeLessThan(releasedAt);
    } finally {
      await locker.end().catch(() => {});
      await store.close();
      await fresh.drop();
    }
  });

  it('reads a suppression entry that commits after one with a higher id', async () => {
    const fresh = await freshDatabase();
    const stores: PostgresStore[] = [];
    const slow = new pg.Client({ connectionString: fresh.url });
    try {
      const a = new PostgresStore({ url: fresh.url, suppressionRefreshMs: 0 });
      const b = new PostgresStore({ url: fresh.url });
      stores.push(a, b);
      await a.migrate();
      await b.migrate();
      const p = await a.createProject('p');
      const pk = (await slow.connect(), await slow.query<{ pk: string }>('SELECT pk FROM projects')).rows[0]!
        .pk;
      // An erasure whose entry takes its id now and commits later (a slow commit)...
      await slow.query('BEGIN');
      await slow.query('INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES ($1, $2, $3)', [
        pk,
        suppressionHash(p.id, 'ghost'),
        Date.now(),
      ]);
      // ...while another, with a higher id, commits at once and `a` reads it.
      await b.erasePerson(p.id, 'other', 'admin');
      const old = '2026-01-01T00:00:00.000Z';
      expect(await a.insertEvents(p.id, [ev({ distinctId: 'other', timestamp: old })])).toMatchObject({
        erased: 1,
      });
      await slow.query('COMMIT');
      // Before, `a` only read ids above the highest it had seen: ghost was never suppressed here.
      expect(await a.insertEvents(p.id, [ev({ distinctId: 'ghost', timestamp: old })])).toEqual({
        accepted: 0,
        duplicates: 0,
        erased: 1,
      });
    } finally {
      await slow.end().catch(() => {});
      for (const s of stores) await s.close();
      await fresh.drop();
    }
  });

  it('refuses an erasureSweepMs that is not an integer ≥ 0', () => {
    for (const erasureSweepMs of [-1, 1.5, Number.NaN, Infinity]) {
      expect(() => new PostgresStore({ url: 'postgres://127.0.0.1/x', erasureSweepMs })).toThrow(
        /erasureSweepMs/,
      );
    }
    // 0 turns the second deletion off; that is a valid setting.
    expect(() => new PostgresStore({ url: 'postgres://127.0.0.1/x', erasureSweepMs: 0 })).not.toThrow();
  });

  it('migrates a database of the previous version without touching its data', async () => {
    const fresh = await freshDatabase();
    try {
      const before = await openPostgres(fresh.url);
      const p = await before.createProject('p');
      await before.insertEvents(p.id, [ev(), ev({ distinctId: 'bob' })]);
      await before.erasePerson(p.id, 'bob', 'admin');
      await before.close();
      // As a database the first version left it: no suppression table, no sweep marks.
      const c = new pg.Client({ connectionString: fresh.url });
      await c.connect();
      await c.query(
        'DROP TABLE suppressions; ALTER TABLE erasures DROP COLUMN erased_at_ms, DROP COLUMN sweep_due_ms; DELETE FROM schema_migrations WHERE version IN (2, 3)',
      );
      await c.end();
      const after = await openPostgres(fresh.url);
      expect(await after.queryEvents({ projectId: p.id, limit: 10 })).toHaveLength(1);
      expect(await after.listErasures({ projectId: p.id, limit: 10 })).toHaveLength(1);
      expect(await after.insertEvents(p.id, [ev({ distinctId: 'bob' })])).toMatchObject({ erased: 0 });
      await after.close();
    } finally {
      await fresh.drop();
    }
  });

  it('answers unreachable with a typed error that names what to check, not the password', async () => {
    const store = new PostgresStore({
      url: 'postgres://someone:s3cret@127.0.0.1:1/nowhere',
      connectTimeoutMs: 2000,
    });
    const err = await store.ping().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'unreachable' });
    expect(String((err as Error).message)).not.toContain('s3cret');
    expect(String((err as Error).message)).toContain('HOMING_DATABASE_URL');
    await store.close();
  });

  it('a connection lost in the middle of an erasure: a storage error, the process lives on, nothing half-done', async () => {
    const fresh = await freshDatabase();
    const store = await openPostgres(fresh.url);
    const locker = new pg.Client({ connectionString: fresh.url });
    const watcher = new pg.Client({ connectionString: fresh.url });
    await locker.connect();
    await watcher.connect();
    try {
      const p = await store.createProject('p');
      await store.insertEvents(p.id, [ev({ distinctId: 'alice' })]);
      // The erasure's transaction waits on this lock, its connection checked out of the pool.
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE erasures IN EXCLUSIVE MODE');
      const erasing = store.erasePerson(p.id, 'alice', 'admin').then(
        () => null,
        (err: unknown) => err,
      );
      let pid = 0;
      await vi.waitFor(
        async () => {
          const r = await watcher.query<{ pid: number }>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO erasures%'",
          );
          expect(r.rows).toHaveLength(1);
          pid = r.rows[0]!.pid;
        },
        { timeout: 5000 },
      );
      await watcher.query('SELECT pg_terminate_backend($1)', [pid]);
      await locker.query('ROLLBACK');
      const err = await erasing;
      expect(err).toBeInstanceOf(StoreError);
      // Rolled back whole: alice's event is still there, and the next erasure (on a new
      // connection) takes it and logs it once.
      expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(1);
      expect(await store.listErasures({ projectId: p.id, limit: 10 })).toHaveLength(1);
      await store.ping();
    } finally {
      await locker.end().catch(() => {});
      await watcher.end().catch(() => {});
      await store.close();
      await fresh.drop();
    }
  });

  describe('statements stuck behind a lock', () => {
    /** Generous: the old code waited forever; nothing here is a timing measurement. */
    const BOUND_MS = 10_000;
    const within = <T>(p: Promise<T>, ms = BOUND_MS): Promise<T | 'still waiting'> =>
      Promise.race([p, new Promise<'still waiting'>((r) => setTimeout(() => r('still waiting'), ms))]);
    let fresh: { url: string; drop: () => Promise<void> };
    let locker: pg.Client;
    const stores: PostgresStore[] = [];
    const open = async (options: Partial<ConstructorParameters<typeof PostgresStore>[0]>) => {
      const store = new PostgresStore({ url: fresh.url, ...options });
      stores.push(store);
      await store.migrate();
      return store;
    };
    const waiting = (): Promise<number> => lockWaiters(fresh.url);
    const count = async (table: string): Promise<number> =>
      Number((await locker.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);

    beforeAll(async () => {
      fresh = await freshDatabase();
    });
    afterAll(async () => {
      await fresh?.drop();
    });
    beforeEach(async () => {
      locker = new pg.Client({ connectionString: fresh.url });
      await locker.connect();
    });
    afterEach(async () => {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end().catch(() => {});
      for (const s of stores.splice(0)) await s.close();
      const c = new pg.Client({ connectionString: fresh.url });
      await c.connect();
      await c.query('TRUNCATE projects, events, erasures, suppressions');
      await c.query('DROP TRIGGER IF EXISTS fail_sweep ON erasures; DROP FUNCTION IF EXISTS fail_sweep()');
      await c.end();
    });

    it('an insert fails with a timeout error after statementTimeoutMs, storing nothing; the store goes on', async () => {
      const store = await open({ statementTimeoutMs: 300 });
      const p = await store.createProject('p');
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      const inserting = store.insertEvents(p.id, [ev(), ev({ distinctId: 'bob' })]).then(
        () => 'stored',
        (err: unknown) => err,
      );
      const outcome = await within(inserting);
      expect(outcome).toBeInstanceOf(StoreError);
      expect(outcome).toMatchObject({ kind: 'timeout' });
      // Readiness does not wait for the lock, and fails while inserts would.
      const ping = store.ping().then(
        () => 'ready',
        (err: unknown) => err,
      );
      expect(await within(ping)).toMatchObject({ kind: 'timeout' });
      await locker.query('COMMIT');
      expect(await count('events')).toBe(0);
      expect(await store.insertEvents(p.id, [ev()])).toMatchObject({ accepted: 1 });
    });

    it('sets the bound on each connection, not as a startup parameter (PgBouncer refuses unknown ones)', async () => {
      const store = await open({ statementTimeoutMs: 300 });
      // The store's own pool (private): what its connections run with, and where it came from.
      const pool = (store as unknown as { connections: { pool: pg.Pool } }).connections.pool;
      const clients = await Promise.all([pool.connect(), pool.connect()]);
      try {
        for (const client of clients) {
          const r = await client.query<{ setting: string; source: string }>(
            "SELECT setting, source FROM pg_settings WHERE name = 'statement_timeout'",
          );
          // 'client' would be a startup parameter; 'session' is the SET.
          expect(r.rows[0]).toEqual({ setting: '300', source: 'session' });
        }
      } finally {
        for (const client of clients) client.release();
      }
    });

    it('erasure and retention get longStatementTimeoutMs, not the ingest bound', async () => {
      const store = await open({ statementTimeoutMs: 200, longStatementTimeoutMs: 60_000 });
      const p = await store.createProject('p');
      await store.insertEvents(p.id, [
        ev({ distinctId: 'alice' }),
        ev({ distinctId: 'bob', timestamp: '2020-01-01T00:00:00.000Z' }),
      ]);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
      const erasing = store.erasePerson(p.id, 'alice', 'admin').then(
        (n) => n,
        (err: unknown) => err,
      );
      const retention = store.deleteEventsBefore('2021-01-01T00:00:00.000Z', 10).then(
        (n) => n,
        (err: unknown) => err,
      );
      await vi.waitFor(async () => expect(await waiting()).toBe(2), { timeout: BOUND_MS });
      // Well past the ingest bound, both still wait.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await waiting()).toBe(2);
      await locker.query('COMMIT');
      expect(await erasing).toBe(1);
      expect(await retention).toBe(1);
    });

    it('close() cancels a statement stuck behind a lock: it rolls back, close() ends, no backend is left waiting', async () => {
      // The erasure's own bound (five minutes by default) is far away: only close() ends it.
      const store = await open({ closeTimeoutMs: 200 });
      const p = await store.createProject('p');
      await store.insertEvents(p.id, [ev({ distinctId: 'alice' })]);
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
      const erasing = store.erasePerson(p.id, 'alice', 'admin').then(
        () => 'erased',
        (err: unknown) => err,
      );
      await vi.waitFor(async () => expect(await waiting()).toBe(1), { timeout: BOUND_MS });
      expect(await within(store.close().then(() => 'closed'))).toBe('closed');
      expect(await erasing).toBeInstanceOf(StoreError);
      // Cancelled, not abandoned: nothing of the store's still waits for the lock, which is
      // still held, to run its DELETE later.
      expect(await waiting()).toBe(0);
      await locker.query('COMMIT');
      expect(await count('events')).toBe(1);
      expect(await count('erasures')).toBe(0);
    });

    it('close() cancels stuck statements even when no new session may log in (connection limit reached)', async () => {
      // A role allowed exactly the store's pool: the cancel cannot come from a new session.
      const role = `homing_limited_${Math.random().toString(36).slice(2, 8)}`;
      const owner = await open({});
      const p = await owner.createProject('p');
      await locker.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 2`);
      await locker.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
      await locker.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      try {
        const url = new URL(fresh.url);
        url.username = role;
        const store = new PostgresStore({ url: url.href, poolSize: 2, closeTimeoutMs: 100 });
        stores.push(store);
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE events IN EXCLUSIVE MODE');
        const inserts = [0, 1].map((i) =>
          store.insertEvents(p.id, [ev({ distinctId: `d${i}` })]).then(
            () => 'stored',
            (err: unknown) => err,
          ),
        );
        await vi.waitFor(async () => expect(await waiting()).toBe(2), { timeout: BOUND_MS });
        expect(await within(store.close().then(() => 'closed'))).toBe('closed');
        // Cancelled by the server (57014), not cut off by closing their sockets.
        for (const outcome of await Promise.all(inserts)) expect(outcome).toMatchObject({ kind: 'timeout' });
        // Cancelled: nothing waits for the lock to commit later.
        await vi.waitFor(async () => expect(await waiting()).toBe(0), { timeout: BOUND_MS });
        await locker.query('COMMIT');
        // Statements merely abandoned would run now that the lock is gone.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        expect(await count('events')).toBe(0);
      } finally {
        await locker.query('ROLLBACK').catch(() => {});
        await locker.query(`DROP OWNED BY ${role}`).catch(() => {});
        await locker.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
      }
    });

    it('reports a failing second deletion through onBackgroundError, naming no person', async () => {
      const errors: StoreError[] = [];
      const store = await open({ erasureSweepMs: 100, onBackgroundError: (e) => errors.push(e) });
      const p = await store.createProject('p');
      await locker.query(`
        CREATE FUNCTION fail_sweep() RETURNS trigger LANGUAGE plpgsql AS
          $$ BEGIN RAISE EXCEPTION 'sweep refused (injected)'; END $$;
        CREATE TRIGGER fail_sweep BEFORE UPDATE ON erasures FOR EACH ROW EXECUTE FUNCTION fail_sweep();`);
      await store.erasePerson(p.id, 'secret-person-7f3a', 'admin');
      await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0), { timeout: BOUND_MS });
      expect(errors[0]).toBeInstanceOf(StoreError);
      expect(errors[0]).toMatchObject({ kind: 'storage' });
      expect(errors[0]!.message).toContain('sweep refused (injected)');
      expect(JSON.stringify({ message: errors[0]!.message })).not.toContain('secret-person-7f3a');
      // The mark stays: the sweep runs once it can.
      await locker.query('DROP TRIGGER fail_sweep ON erasures');
      await vi.waitFor(
        async () =>
          expect(
            Number(
              (await locker.query('SELECT count(*) AS n FROM erasures WHERE sweep_due_ms IS NOT NULL'))
                .rows[0].n,
            ),
          ).toBe(0),
        { timeout: BOUND_MS },
      );
    });

    it('refuses timeouts that are not integers from 0 to about 2^31 ms', () => {
      for (const name of ['statementTimeoutMs', 'longStatementTimeoutMs', 'closeTimeoutMs'] as const) {
        for (const v of [-1, 1.5, Number.NaN, 2 ** 31]) {
          expect(() => new PostgresStore({ url: 'postgres://127.0.0.1/x', [name]: v })).toThrow(name);
        }
        expect(() => new PostgresStore({ url: 'postgres://127.0.0.1/x', [name]: 0 })).not.toThrow();
      }
    });
  });

  describe('a migration waiting for a table lock another session holds', () => {
    let db: { url: string; drop: () => Promise<void> };
    let reader: pg.Client;
    const stores: PostgresStore[] = [];
    beforeEach(async () => {
      // A database at schema version 2: migration 3 alters the erasure log.
      db = await freshDatabase();
      const setup = new pg.Client({ connectionString: db.url });
      await setup.connect();
      await setup.query(
        'CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
      );
      for (const m of POSTGRES_MIGRATIONS.filter((m) => m.version <= 2)) {
        await setup.query(m.sql);
        await setup.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [m.version, m.name, 'test']);
      }
      await setup.end();
      // A long transaction that read the erasure log: its lock lasts until it ends.
      reader = new pg.Client({ connectionString: db.url });
      await reader.connect();
      await reader.query('BEGIN');
      await reader.query('SELECT count(*) FROM erasures');
    });
    afterEach(async () => {
      await reader.end().catch(() => {});
      for (const s of stores.splice(0)) await s.close();
      await db.drop();
    });
    const versions = async (): Promise<number[]> => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        return (
          await c.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')
        ).rows.map((r) => r.version);
      } finally {
        await c.end();
      }
    };

    it('lets go and tries again, and applies once the lock is gone', async () => {
      const store = new PostgresStore({ url: db.url, migrationLockTimeoutMs: 200 });
      stores.push(store);
      const migrating = store.migrate();
      setTimeout(() => void reader.query('COMMIT'), 1_500);
      await migrating;
      expect(await versions()).toEqual(POSTGRES_MIGRATIONS.map((m) => m.version));
    }, 30_000);

    it('gives up with a migration error that says what to do, and holds up no reader meanwhile', async () => {
      const store = new PostgresStore({ url: db.url, migrationLockTimeoutMs: 200 });
      stores.push(store);
      const outcome = store.migrate().then(
        () => 'migrated',
        (err: unknown) => err,
      );
      // Another session can still read the table while the migration waits between tries
      // (a queued ALTER would hold it up until the long transaction ended).
      const other = new pg.Client({ connectionString: db.url, statement_timeout: 5_000 });
      await other.connect();
      try {
        await new Promise((resolve) => setTimeout(resolve, 700));
        await expect(other.query('SELECT count(*) FROM erasures')).resolves.toBeDefined();
      } finally {
        await other.end();
      }
      const err = await outcome;
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({ kind: 'migration' });
      expect((err as Error).message).toMatch(/table lock another session holds.*pg_stat_activity/);
      expect(await versions()).toEqual([1, 2]);
    }, 30_000);
  });
});
