import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, lockWaiters, openPostgres, postgresReachable } from './postgres.test-helpers.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgreSQL project removal and batches in flight', () => {
  let db: { url: string; drop: () => Promise<void> };
  beforeAll(async () => {
    db = await freshDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('a batch that meets the removal’s mark before it commits waits, then stores nothing', async () => {
    const store = await openPostgres(db.url);
    const marker = new pg.Client({ connectionString: db.url });
    try {
      const gone = await store.createProject('gone');
      expect(await store.insertEvents(gone.id, [ev()])).toMatchObject({ accepted: 1 });
      // The removal's first step, held open in another session (another process's removal).
      await marker.connect();
      await marker.query('BEGIN');
      await marker.query("UPDATE projects SET removed_at = '2026-01-01' WHERE id = $1", [gone.id]);
      let settled = false;
      const batch = store
        .insertEvents(gone.id, [ev(), ev()])
        .catch((err: unknown) => err)
        .finally(() => (settled = true));
      // It waits for the mark's commit (unless it stored its events without looking).
      while (!settled && (await lockWaiters(db.url)) === 0) await new Promise((r) => setTimeout(r, 20));
      await marker.query('COMMIT');
      expect(await batch).toMatchObject({ kind: 'unknown-project' });
      const n = await marker.query<{ n: string }>(
        'SELECT count(*) AS n FROM events e JOIN projects p ON p.pk = e.project_pk WHERE p.id = $1',
        [gone.id],
      );
      expect(Number(n.rows[0]!.n)).toBe(1);
      // The rest of the removal deletes the one stored before the mark.
      expect(await store.removeProject(gone.id)).toMatchObject({ events: 1 });
    } finally {
      await marker.end();
      await store.close();
    }
  });
});
