import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore } from './postgres.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgresStore: retention and readiness', () => {
  let db: { url: string; drop: () => Promise<void> };
  let admin: pg.Client;
  const stores: PostgresStore[] = [];
  const open = async (options: Partial<ConstructorParameters<typeof PostgresStore>[0]> = {}) => {
    const store = new PostgresStore({ url: db.url, ...options });
    stores.push(store);
    await store.migrate();
    return store;
  };
  const old = (i: number) => ev({ timestamp: new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString() });
  const cutoff = '2021-01-01T00:00:00.000Z';
  const count = async (): Promise<number> =>
    Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);

  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  beforeEach(async () => {
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterEach(async () => {
    await admin.query('ROLLBACK').catch(() => {});
    for (const s of stores.splice(0)) await s.close();
    await admin.query(
      `ALTER DATABASE ${new URL(db.url).pathname.slice(1)} RESET default_transaction_read_only`,
    );
    await admin.query('DROP TRIGGER IF EXISTS fail_delete ON events');
    await admin.query('DROP FUNCTION IF EXISTS fail_delete(); DROP SEQUENCE IF EXISTS fail_delete_seq');
    await admin.query('ALTER TABLE IF EXISTS events_away RENAME TO events');
    await admin.query('TRUNCATE projects, events, erasures, suppressions');
    await admin.end();
  });

  it('retention passes over rows another transaction holds, without waiting, and counts what it deleted', async () => {
    // A bound that the old code, waiting for the held rows, ran into.
    const store = await open({ longStatementTimeoutMs: 2000 });
    const p = await store.createProject('p');
    await store.insertEvents(
      p.id,
      Array.from({ length: 30 }, (_, i) => old(i)),
    );
    // An erasure (or another process's retention run) holds the 10 oldest rows.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM events ORDER BY ts LIMIT 10 FOR UPDATE');
      expect(await store.deleteEventsBefore(cutoff, 15)).toBe(15);
      expect(await store.deleteEventsBefore(cutoff, 15)).toBe(5);
      expect(await store.deleteEventsBefore(cutoff, 15)).toBe(0);
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    expect(await store.deleteEventsBefore(cutoff, 15)).toBe(10);
    expect(await count()).toBe(0);
  });

  it('two processes’ retention runs at once share the rows: each deleted once, counted once', async () => {
    const a = await open();
    const b = await open();
    const p = await a.createProject('p');
    await a.insertEvents(
      p.id,
      Array.from({ length: 400 }, (_, i) => old(i)),
    );
    const run = async (s: PostgresStore): Promise<number> => {
      let total = 0;
      for (let n = -1; n !== 0; total += n) n = await s.deleteEventsBefore(cutoff, 20);
      return total;
    };
    const [na, nb] = await Promise.all([run(a), run(b)]);
    expect(na + nb).toBe(400);
    expect(await count()).toBe(0);
  });

  it('runs a retention statement again that PostgreSQL aborted as a deadlock', async () => {
    const store = await open();
    const p = await store.createProject('p');
    await store.insertEvents(
      p.id,
      Array.from({ length: 12 }, (_, i) => old(i)),
    );
    // The first two DELETEs fail as a deadlock victim does (a sequence: not rolled back with them).
    await admin.query(`
      CREATE SEQUENCE fail_delete_seq;
      CREATE FUNCTION fail_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF nextval('fail_delete_seq') <= 2 THEN
          RAISE EXCEPTION 'injected deadlock' USING ERRCODE = '40P01';
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER fail_delete BEFORE DELETE ON events FOR EACH STATEMENT EXECUTE FUNCTION fail_delete();`);
    expect(await store.deleteEventsBefore(cutoff, 10)).toBe(10);
    expect(await count()).toBe(2);
  });

  it('/readyz’s ping fails, naming the cause, while the database refuses writes or lost its events table', async () => {
    const store = await open();
    await expect(store.ping()).resolves.toBeUndefined();
    const name = new URL(db.url).pathname.slice(1);
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_read_only = on`);
    // Only new sessions take the setting: a fresh store stands for a reconnected pool (its
    // migrate() would fail: CREATE TABLE IF NOT EXISTS is a write).
    const reconnected = new PostgresStore({ url: db.url });
    stores.push(reconnected);
    await expect(reconnected.ping()).rejects.toMatchObject({
      kind: 'storage',
      message: expect.stringMatching(/accepts no writes.*transaction_read_only/) as string,
    });
    await admin.query(`ALTER DATABASE ${name} RESET default_transaction_read_only`);
    await admin.query('ALTER TABLE events RENAME TO events_away');
    await expect(store.ping()).rejects.toMatchObject({
      kind: 'storage',
      message: expect.stringMatching(/has no events table/) as string,
    });
    await admin.query('ALTER TABLE events_away RENAME TO events');
    await expect(store.ping()).resolves.toBeUndefined();
  });

  it('ping before the first migration does not ask for the schema (a start on an empty database)', async () => {
    const empty = await freshDatabase();
    const store = new PostgresStore({ url: empty.url });
    try {
      await expect(store.ping()).resolves.toBeUndefined();
      await store.migrate();
      await expect(store.ping()).resolves.toBeUndefined();
    } finally {
      await store.close();
      await empty.drop();
    }
  });
});
