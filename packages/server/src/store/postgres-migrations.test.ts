import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { freshDatabase, openPostgres, postgresReachable } from './postgres.test-helpers.js';
import { projectParams } from './postgres-rows.js';
import { newProject } from './project-keys.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

describe.skipIf(!reachable)('PostgreSQL schema version 5: projects removed, keys version', () => {
  it('upgrades a version 4 database keeping its projects, keys and events; removal and rotation work on it', async () => {
    const db = await freshDatabase();
    const client = new pg.Client({ connectionString: db.url });
    try {
      await client.connect();
      await client.query(
        'CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
      );
      for (const m of POSTGRES_MIGRATIONS.filter((x) => x.version <= 4)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations VALUES ($1, $2, $3)', [m.version, m.name, '2026']);
      }
      const [a, b] = [newProject('a'), newProject('b')];
      for (const p of [a, b])
        await client.query(
          `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          projectParams(p),
        );
      await client.query(
        `INSERT INTO events (project_pk, key, event, distinct_id, ts, received_at, properties)
         SELECT pk, decode(md5(pk::text || g::text), 'hex'), 'old', 'p', 0, '2026', '{}'::json
         FROM projects, generate_series(1, 3) g`,
      );

      const store = await openPostgres(db.url);
      try {
        expect(await store.listProjects()).toEqual([a, b]);
        expect(await store.findProjectByKey(a.writeKey)).toEqual({ project: a, role: 'write' });
        expect(await store.queryEvents({ projectId: a.id, limit: 10 })).toHaveLength(3);
        expect(await store.insertEvents(b.id, [ev()])).toMatchObject({ accepted: 1 });
        const rotated = await store.rotateProjectKeys(a.id, { write: true, admin: false });
        expect(await store.findProjectByKey(a.writeKey)).toBeNull();
        expect(await store.findProjectByKey(rotated.writeKey)).toMatchObject({ role: 'write' });
        expect(await store.removeProject(b.id)).toMatchObject({ events: 4 });
        expect(await store.listProjects()).toEqual([rotated]);
        expect(await store.queryEvents({ projectId: a.id, limit: 10 })).toHaveLength(3);
      } finally {
        await store.close();
      }
    } finally {
      await client.end();
      await db.drop();
    }
  });
});
