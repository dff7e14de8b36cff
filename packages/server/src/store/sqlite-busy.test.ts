import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { healthRoutes } from '../routes/health.js';
import { StoreError } from './errors.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { onOtherConnection, openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore, SqliteStoreOptions } from './sqlite.js';
import { ev } from './store.contract.js';

/**
 * Another process's write lock on the data directory's files, held past the busy timeout (an
 * operator's `sqlite3` session in a transaction, a VACUUM): every call it fails is a StoreError,
 * which the server answers 503 with Retry-After, and readiness says so while ingest cannot commit.
 */

const dirs: string[] = [];
const stores: SqliteStore[] = [];
const locks: Database.Database[] = [];
afterEach(async () => {
  for (const l of locks.splice(0)) if (l.open) l.close();
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function open(options: Partial<SqliteStoreOptions> = {}): Promise<{ store: SqliteStore; dir: string }> {
  const dir = tempDir();
  dirs.push(dir);
  const store = await openSqlite({ dataDir: dir, busyTimeoutMs: 300, ...options });
  stores.push(store);
  return { store, dir };
}

/** Another connection's write lock on `file` (BEGIN EXCLUSIVE is a write lock in WAL mode too). */
function holdLock(dir: string, file: string, sql = 'BEGIN IMMEDIATE'): Database.Database {
  const other = new Database(join(dir, file), { timeout: 10_000 });
  other.exec(sql);
  locks.push(other);
  return other;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('resolved, expected a rejection');
}

async function expectStoreError(p: Promise<unknown>, kind = 'storage'): Promise<void> {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).kind).toBe(kind);
}

/** What better-sqlite3 throws for a failed read (a SqliteError: a code of SQLite's own). */
const ioError = () => Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_READ' });

describe('SqliteStore: homing.db write-locked by another process', () => {
  it('DELETE /api/persons/:id answers 503 unavailable with Retry-After, and erases once the lock is gone', async () => {
    const { store, dir } = await open();
    const project = await store.createProject('p');
    await store.insertEvents(project.id, [ev({ distinctId: 'alice' })]);
    await store.drain();
    const app = buildServer({ logger: false, store });
    await app.ready();
    try {
      const lock = holdLock(dir, 'homing.db');
      const erase = () =>
        app.inject({
          method: 'DELETE',
          url: '/api/persons/alice',
          headers: { authorization: `Bearer ${project.adminKey}` },
        });
      const locked = await erase();
      expect(locked.statusCode).toBe(503);
      expect(locked.headers['retry-after']).toBe('5');
      expect(locked.json()).toMatchObject({ error: 'unavailable' });
      lock.exec('ROLLBACK');
      const again = await erase();
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ deleted: 1, distinct_id: 'alice' });
    } finally {
      await app.close();
    }
  });

  it('every admin write it fails is a StoreError: projects, keys, removal, retention, erasure', async () => {
    const { store, dir } = await open();
    const project = await store.createProject('p');
    await store.insertEvents(project.id, [ev({ distinctId: 'alice' })]);
    await store.drain();
    holdLock(dir, 'homing.db');
    await expectStoreError(store.erasePerson(project.id, 'alice', 'test'));
    await expectStoreError(store.createProject('q'));
    await expectStoreError(store.firstProjectOrCreate('q'));
    await expectStoreError(store.rotateProjectKeys(project.id, { write: true, admin: true }));
    await expectStoreError(store.removeProject(project.id));
    await expectStoreError(store.deleteEventsBefore('2100-01-01', 100));
    // Reads go on meanwhile (WAL): the lock refuses writes only.
    expect(await store.queryEvents({ projectId: project.id, limit: 10 })).toHaveLength(1);
  });

  it("an erasure's deletion that fails is a StoreError too (the suppression entry stays)", async () => {
    const { store, dir } = await open();
    const project = await store.createProject('p');
    await store.insertEvents(project.id, [ev({ distinctId: 'alice' })]);
    await store.drain();
    onOtherConnection(
      dir,
      "CREATE TRIGGER no_delete BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'injected'); END",
    );
    await expectStoreError(store.erasePerson(project.id, 'alice', 'test'));
    onOtherConnection(dir, 'DROP TRIGGER no_delete');
    expect(await store.erasePerson(project.id, 'alice', 'test')).toBe(1);
  });

  it("reads, export, stats and key lookups turn SQLite's failures into StoreError, and leave other faults as they are", async () => {
    const { store } = await open();
    const project = await store.createProject('p');
    const internals = store as unknown as {
      reads: Record<'page' | 'personEvents' | 'stats', () => never>;
      erasure: { list: () => never };
      projects: { list: () => never; findByKey: () => never };
    };
    const fail = () => {
      throw ioError();
    };
    internals.reads.page = fail;
    internals.reads.stats = fail;
    internals.reads.personEvents = fail;
    internals.erasure.list = fail;
    internals.projects.list = fail;
    internals.projects.findByKey = fail;
    await expectStoreError(store.queryEvents({ projectId: project.id, limit: 10 }));
    await expectStoreError(
      store.stats({
        projectId: project.id,
        from: '2026-01-01T00:00:00Z',
        to: '2026-01-02T00:00:00Z',
        intervalSeconds: 3600,
      }),
    );
    await expectStoreError(
      (async () => {
        for await (const _ of store.personEvents(project.id, 'alice'));
      })(),
    );
    await expectStoreError(store.listErasures({ projectId: project.id, limit: 10 }));
    await expectStoreError(store.listProjects());
    await expectStoreError(store.findProjectByKey(project.writeKey));
    // A fault of the code, not of the storage, stays what it is (answered 500, and logged as one).
    internals.projects.list = () => {
      throw new TypeError('a bug');
    };
    expect(await rejection(store.listProjects())).toBeInstanceOf(TypeError);
  });
});

describe('SqliteStore readiness: the ingest log locked by another process', () => {
  it('ping fails (503 timeout) without waiting the busy timeout while every ingest fails, and passes once the lock is gone', async () => {
    const { store, dir } = await open({ busyTimeoutMs: 5000 });
    const project = await store.createProject('p');
    await store.ping();
    const lock = holdLock(dir, LOG_FILE, 'BEGIN EXCLUSIVE');
    const started = Date.now();
    await expectStoreError(store.ping(), 'timeout');
    // Far below the 5 s an ingest commit waits: the probe does not sleep in SQLite's busy handler.
    expect(Date.now() - started).toBeLessThan(3000);
    const app = Fastify();
    await app.register(healthRoutes, { store, readyTimeoutMs: 2000, isDraining: () => false });
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    await app.close();
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ status: 'unavailable', reason: 'timeout' });
    lock.exec('ROLLBACK');
    await store.ping();
    await store.insertEvents(project.id, [ev()]);
  });

  it('an ingest call meets the same lock: refused while ping fails', async () => {
    const { store, dir } = await open({ busyTimeoutMs: 300 });
    const project = await store.createProject('p');
    holdLock(dir, LOG_FILE, 'BEGIN EXCLUSIVE');
    await expectStoreError(store.insertEvents(project.id, [ev()]));
    await expectStoreError(store.ping(), 'timeout');
  });

  it("stays ready under ingest, its expander's checkpoints and idle shrinks included", async () => {
    // Small WALs and a short poll: the worker holds the store's log writes for its checkpoints
    // often, and truncates and vacuums the log file whenever ingest pauses.
    const { store } = await open({
      busyTimeoutMs: 5000,
      walAutocheckpointPages: 8,
      expandPollMs: 5,
      logVacuumFreeMiB: 0,
      expandChunkEvents: 200,
    });
    const project = await store.createProject('p');
    const failures: unknown[] = [];
    let pings = 0;
    let stop = false;
    const pinging = (async () => {
      while (!stop) {
        try {
          await store.ping();
        } catch (err) {
          failures.push(err);
        }
        pings++;
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const until = Date.now() + 4000;
    let inserted = 0;
    while (Date.now() < until) {
      // A burst of concurrent calls (group commits), then a pause long enough to go idle.
      const burst = Array.from({ length: 20 }, () =>
        store.insertEvents(
          project.id,
          Array.from({ length: 50 }, () => ev({ properties: { pad: 'x'.repeat(300) } })),
        ),
      );
      for (const r of await Promise.all(burst)) inserted += r.accepted;
      await new Promise((r) => setTimeout(r, 30 + (inserted % 7) * 10));
    }
    stop = true;
    await pinging;
    expect(failures).toEqual([]);
    expect(pings).toBeGreaterThan(50);
    await store.drain();
    expect(inserted).toBeGreaterThan(0);
  }, 30_000);
});
