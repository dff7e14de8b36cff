import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { eventKey } from './event-key.js';
import { keyHash, newProject } from './project-keys.js';
import { LOG_FILE, openLogFile } from './sqlite-log-file.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { migrateFailure, onOtherConnection, openSqlite, tempDir } from './sqlite.test-helpers.js';
import { SqliteStore } from './sqlite.js';
import type { Project } from './store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const TS = Date.parse('2026-01-01T00:00:00.000Z');

/**
 * A data directory as Homing left it at schema version 5 (before project pks were never reused):
 * projects a (pk 1) and b (pk 2) with events, b with an erasure; project c (pk 3) deleted by hand
 * with its events left behind; project d (pk 4) deleted by hand with its events still in the
 * ingest log, not yet expanded.
 */
function version5DataDir(): { dir: string; a: Project; b: Project; rows: Record<string, unknown[]> } {
  const dir = tempDir();
  dirs.push(dir);
  const db = new Database(join(dir, 'homing.db'));
  db.pragma('journal_mode = WAL');
  db.exec(
    'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  for (const m of SQLITE_MIGRATIONS.filter((x) => x.version <= 5)) {
    db.exec(m.sql);
    db.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(m.version, m.name, '2026-01-01');
  }
  const projects = ['a', 'b', 'c', 'd'].map((name) => newProject(name));
  for (const p of projects)
    db.prepare(
      `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ).run(p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt);
  const insertEvent = db.prepare(
    `INSERT INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
     VALUES (?, ?, NULL, ?, ?, ?, NULL, ?, ?)`,
  );
  for (const pk of [1, 2, 3])
    for (let i = 0; i < 3; i++)
      insertEvent.run(
        pk,
        eventKey(randomUUID()),
        `e${pk}`,
        `person-${pk}`,
        TS + i,
        '2026-01-01T00:00:00.000Z',
        '{}',
      );
  db.prepare(
    "INSERT INTO erasures (project_pk, distinct_id, requested_by, deleted_count, erased_at) VALUES (2, 'gone', 'admin', 1, '2026-01-02')",
  ).run();
  db.prepare('INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES (2, ?, ?)').run(
    Buffer.alloc(32, 7),
    TS,
  );
  db.prepare('INSERT INTO erased_keys (project_pk, key, erased_at_ms) VALUES (2, ?, ?)').run(
    Buffer.alloc(16, 9),
    TS,
  );
  // The careless removals.
  db.exec('DELETE FROM projects WHERE pk IN (3, 4)');
  const rows = {
    projects: db.prepare('SELECT * FROM projects ORDER BY pk').all(),
    events: db.prepare('SELECT * FROM events ORDER BY rowid').all(),
    erasures: db.prepare('SELECT * FROM erasures').all(),
    suppressions: db.prepare('SELECT * FROM suppressions').all(),
    erasedKeys: db.prepare('SELECT * FROM erased_keys').all(),
  };
  db.close();
  const log = openLogFile(join(dir, LOG_FILE), {
    synchronous: 'normal',
    busyTimeoutMs: 5000,
    walAutocheckpointPages: 1000,
  });
  const payload = ['', 'e4', 'person-4', String(TS), '', '2026-01-01T00:00:00.000Z', '{}']
    .map((f) => `\u0000${f}`)
    .join('');
  log
    .prepare('INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (4, 1, ?, ?)')
    .run(eventKey(randomUUID()), payload);
  log.close();
  return { dir, a: projects[0]!, b: projects[1]!, rows };
}

function read<T>(dir: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(join(dir, 'homing.db'), { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

describe('SQLite schema version 6: project pks never reused', () => {
  it('upgrades a version 5 database keeping every row; a new project gets a pk no row names', async () => {
    const { dir, a, b, rows } = version5DataDir();
    // The upgrade as `homing projects create` does it (projects only), then a server.
    const cli = new SqliteStore({ dataDir: dir, projectsOnly: true });
    await cli.migrate();
    expect(await cli.listProjects()).toEqual([a, b]);
    const next = await cli.createProject('next');
    await cli.close();

    expect(
      read(
        dir,
        'SELECT pk, id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at FROM projects WHERE pk < 3 ORDER BY pk',
      ),
    ).toEqual(rows.projects);
    expect(read<{ pk: number }>(dir, 'SELECT pk FROM projects WHERE id = ?', next.id)).toEqual([{ pk: 5 }]);
    expect(read(dir, 'SELECT * FROM events ORDER BY rowid')).toEqual(rows.events);
    expect(read(dir, 'SELECT * FROM erasures')).toEqual(rows.erasures);
    expect(read(dir, 'SELECT * FROM suppressions')).toEqual(rows.suppressions);
    expect(read(dir, 'SELECT * FROM erased_keys')).toEqual(rows.erasedKeys);

    const store = await openSqlite({ dataDir: dir });
    try {
      expect(await store.findProjectByKey(b.writeKey)).toEqual({ project: b, role: 'write' });
      expect((await store.queryEvents({ projectId: a.id, limit: 10 })).map((e) => e.event)).toEqual([
        'e1',
        'e1',
        'e1',
      ]);
      expect(await store.listErasures({ projectId: b.id, limit: 10 })).toMatchObject([
        { distinctId: 'gone' },
      ]);
      // Nothing of c's events, of d's events in the log, of b's erasure becomes the new project's.
      expect(await store.queryEvents({ projectId: next.id, limit: 10 })).toEqual([]);
      expect(await store.listErasures({ projectId: next.id, limit: 10 })).toEqual([]);
      await store.drain();
      expect(read(dir, "SELECT count(*) AS n FROM events WHERE event = 'e4'")).toEqual([{ n: 0 }]);
    } finally {
      await store.close();
    }
  });

  it('a project row deleted by hand: the next project gets a new pk, not the deleted one’s rows', async () => {
    const dir = tempDir();
    dirs.push(dir);
    let store = await openSqlite({ dataDir: dir });
    await store.createProject('a');
    const b = await store.createProject('b');
    await store.insertEvents(b.id, [
      {
        uuid: randomUUID(),
        event: 'secret',
        distinctId: 'bob',
        timestamp: new Date(TS).toISOString(),
        originalTimestamp: null,
        receivedAt: new Date(TS).toISOString(),
        properties: {},
      },
    ]);
    await store.erasePerson(b.id, 'someone', 'admin');
    await store.close();
    onOtherConnection(dir, `DELETE FROM projects WHERE id = '${b.id}'`);
    store = await openSqlite({ dataDir: dir });
    try {
      const c = await store.createProject('c');
      expect(await store.queryEvents({ projectId: c.id, limit: 10 })).toEqual([]);
      expect(await store.listErasures({ projectId: c.id, limit: 10 })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('a damaged ingest log met by the upgrade is told as the log’s problem, nothing of homing.db changed', async () => {
    const { dir } = version5DataDir();
    writeFileSync(join(dir, LOG_FILE), Buffer.alloc(8192, 0x5a));
    const err = await migrateFailure(dir);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect(err.message).toContain(`cannot read the ingest log ${join(dir, LOG_FILE)} to upgrade`);
    expect(err.message).toContain('move it aside');
    expect(read<{ v: number }>(dir, 'SELECT max(version) AS v FROM schema_migrations')[0]!.v).toBe(5);
  });
});
