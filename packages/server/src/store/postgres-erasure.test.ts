import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore, type PostgresStoreOptions } from './postgres.js';
import { ev } from './store.contract.js';
import type { IngestEvent } from './store.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgresStore erasure', () => {
  let db: { url: string; drop: () => Promise<void> };
  const stores: PostgresStore[] = [];
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await exec(
      `TRUNCATE projects, events, erasures, suppressions, erased_keys;
       DROP TRIGGER IF EXISTS fail_delete ON events; DROP FUNCTION IF EXISTS fail_delete();
       DROP SEQUENCE IF EXISTS fail_delete_seq`,
    );
  });
  afterAll(async () => {
    await db?.drop();
  });

  async function exec(sql: string): Promise<void> {
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  }

  async function open(options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
    const s = new PostgresStore({ url: db.url, ...options });
    await s.migrate();
    stores.push(s);
    return s;
  }

  /** Deleting an event fails with SQLSTATE `code` the first `times` times (a sequence: no rollback). */
  async function failDeletes(code: string, times: number): Promise<void> {
    await exec(`
      CREATE SEQUENCE fail_delete_seq;
      CREATE FUNCTION fail_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF nextval('fail_delete_seq') <= ${times} THEN
            RAISE EXCEPTION 'injected failure' USING ERRCODE = '${code}';
          END IF;
          RETURN OLD;
        END $$;
      CREATE TRIGGER fail_delete BEFORE DELETE ON events FOR EACH ROW EXECUTE FUNCTION fail_delete();`);
  }

  it('runs an erasure again that PostgreSQL aborted for a deadlock or a serialization failure', async () => {
    const store = await open();
    const p = await store.createProject('p');
    await store.insertEvents(p.id, [ev({ distinctId: 'alice' }), ev({ distinctId: 'alice' })]);
    await failDeletes('40P01', 1);
    expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(2);
    expect(await store.listErasures({ projectId: p.id, limit: 10 })).toMatchObject([{ deletedCount: 2 }]);
    expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toEqual([]);

    await store.insertEvents(p.id, [ev({ distinctId: 'bob' })]);
    await exec(
      `DROP TRIGGER fail_delete ON events; DROP FUNCTION fail_delete(); DROP SEQUENCE fail_delete_seq`,
    );
    await failDeletes('40001', 2);
    expect(await store.erasePerson(p.id, 'bob', 'admin')).toBe(1);
  });

  it('gives up on a retryable failure that persists, and does not retry any other failure', async () => {
    const store = await open();
    const p = await store.createProject('p');
    await store.insertEvents(p.id, [ev({ distinctId: 'alice' })]);
    await failDeletes('40P01', 1000);
    await expect(store.erasePerson(p.id, 'alice', 'admin')).rejects.toMatchObject({ kind: 'storage' });
    const tries = async (): Promise<number> => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        return Number((await c.query('SELECT last_value FROM fail_delete_seq')).rows[0].last_value);
      } finally {
        await c.end();
      }
    };
    expect(await tries()).toBe(4);
    await exec(
      `DROP TRIGGER fail_delete ON events; DROP FUNCTION fail_delete(); DROP SEQUENCE fail_delete_seq`,
    );
    await failDeletes('XX000', 1000);
    await expect(store.erasePerson(p.id, 'alice', 'admin')).rejects.toMatchObject({ kind: 'storage' });
    expect(await tries()).toBe(1);
    // Nothing half-done: the events are there, no log entry (the suppression entries stay).
    expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toHaveLength(1);
    expect(await store.listErasures({ projectId: p.id, limit: 10 })).toEqual([]);
  });

  it('the second deletion also takes an erased event stored again by a process that had not seen the erasure', async () => {
    // `a` ingests and reads other processes' erasures only once a minute; `b` erases.
    const a = await open({ suppressionRefreshMs: 60_000 });
    const b = await open({ erasureSweepMs: 200 });
    const p = await a.createProject('p');
    const now = (e: IngestEvent): IngestEvent => {
      const t = new Date().toISOString();
      return { ...e, timestamp: t, originalTimestamp: null, receivedAt: t };
    };
    const e = now(ev({ distinctId: 'alice' }));
    await a.insertEvents(p.id, [e]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await b.erasePerson(p.id, 'alice', 'admin')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // Sent again without a timestamp: stamped after the erasure, so only its key tells.
    expect(await a.insertEvents(p.id, [now(e)])).toMatchObject({ accepted: 1, erased: 0 });
    await vi.waitFor(async () => expect(await a.queryEvents({ projectId: p.id, limit: 10 })).toEqual([]), {
      timeout: 5000,
    });
    expect((await b.listErasures({ projectId: p.id, limit: 1 }))[0]).toMatchObject({ deletedCount: 2 });
  });
});
