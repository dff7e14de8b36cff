import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { freshDatabase, openPostgres, postgresReachable } from './postgres.test-helpers.js';
import type { PostgresStore } from './postgres.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

/**
 * /readyz on PostgreSQL while another session holds a lock that every insert waits for: ingest
 * answers 503 after statementTimeoutMs, so readiness must say so too, without waiting for it.
 */
describe.skipIf(!reachable)('PostgresStore: readiness while the events table is locked', () => {
  let db: { url: string; drop: () => Promise<void> };
  let store: PostgresStore;
  let holder: pg.Client;
  beforeAll(async () => {
    db = await freshDatabase();
    store = await openPostgres(db.url);
    holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
  });
  afterAll(async () => {
    await holder?.query('ROLLBACK').catch(() => {});
    await holder?.end();
    await store?.close();
    await db?.drop();
  });

  it('is not ready while LOCK TABLE events is held, and ready again once it is released', async () => {
    const p = await store.createProject('p');
    const app = buildServer({ store, logger: false });
    try {
      await store.ping();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      await expect(store.ping()).rejects.toMatchObject({ kind: 'timeout' });
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect([ready.statusCode, ready.json()]).toEqual([503, { status: 'unavailable', reason: 'timeout' }]);
      await holder.query('ROLLBACK');
      await store.ping();
      expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);

      // Another session's insert in flight (the lock ingest itself takes) is no reason.
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events IN ROW EXCLUSIVE MODE');
      await store.ping();
      await store.insertEvents(p.id, [ev()]);
      await holder.query('ROLLBACK');
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await app.close();
    }
  });

  it('is not ready while an ALTER TABLE of a table every batch reads waits, which every batch waits for too', async () => {
    const p = await store.createProject('q');
    for (const table of ['projects', 'keys_version', 'suppressions', 'erased_keys']) {
      await holder.query('BEGIN');
      await holder.query(`ALTER TABLE ${table} ADD COLUMN qa_note text`);
      await expect(store.ping(), table).rejects.toMatchObject({
        kind: 'timeout',
        message: expect.stringContaining(`has the ${table} table locked`),
      });
      await holder.query('ROLLBACK');
      await store.ping();
    }
    // Another session's batch in flight (its project row FOR SHARE) is no reason.
    await holder.query('BEGIN');
    await holder.query('SELECT pk FROM projects FOR SHARE');
    await store.ping();
    await store.insertEvents(p.id, [ev()]);
    await holder.query('ROLLBACK');
  });
});
