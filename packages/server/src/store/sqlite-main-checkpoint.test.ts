import { openSync, readSync, closeSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { MAIN_AUTOCHECKPOINT_FACTOR } from './sqlite-open.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore, SqliteStoreOptions } from './sqlite.js';
import { ev } from './store.contract.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');

/**
 * homing.db's WAL as the -shm file tells it: frames in the WAL (mxFrame, in the WAL-index
 * header) and frames copied back into the database (nBackfill, in the checkpoint info after the
 * header's two 48-byte copies). Native byte order, as SQLite writes them.
 */
function walState(dbPath: string): { frames: number; backfilled: number } {
  const fd = openSync(`${dbPath}-shm`, 'r');
  try {
    const b = Buffer.alloc(100);
    readSync(fd, b, 0, 100, 0);
    const u32 = (at: number): number =>
      b.readUInt32LE(0) === 3007000 ? b.readUInt32LE(at) : b.readUInt32BE(at);
    return { frames: u32(16), backfilled: u32(96) };
  } finally {
    closeSync(fd);
  }
}

// The event loop's connection leaves homing.db's checkpoints to the expander worker: an
// autocheckpoint runs inside the commit that crosses the bound, and on a large database a
// retention or erasure batch's commit held the event loop 0.4-1 s doing it.
describe('SqliteStore: homing.db checkpoints off the event loop', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (
    options: Partial<SqliteStoreOptions>,
  ): Promise<{ store: SqliteStore; main: Database.Database }> => {
    const dir = tempDir();
    dirs.push(dir);
    let main: Database.Database | undefined;
    const store = await openSqlite({
      ...options,
      dataDir: dir,
      openDatabase: (file, o) => (main = new Database(file, o)),
    });
    stores.push(store);
    return { store, main: main! };
  };
  const insertOld = async (store: SqliteStore, projectId: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i += 500) {
      const batch = Array.from({ length: Math.min(500, n - i) }, (_, j) =>
        ev({
          timestamp: new Date(T0 - 86_400_000 + i + j).toISOString(),
          properties: { pad: 'x'.repeat(400) },
        }),
      );
      await store.insertEvents(projectId, batch);
    }
    await store.drain();
  };

  it("sets the event loop's autocheckpoint as a backstop past the worker's bound", async () => {
    const { main } = await open({ walAutocheckpointPages: 1000 });
    expect(main.pragma('wal_autocheckpoint', { simple: true })).toBe(1000 * MAIN_AUTOCHECKPOINT_FACTOR);
    // Without a worker (projects only), this connection is the only one to checkpoint.
    const { main: projectsOnly } = await open({ walAutocheckpointPages: 1000, projectsOnly: true });
    expect(projectsOnly.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
  });

  it("under ingest, the worker's commits checkpoint what the event loop's writes left", async () => {
    // Never quiet during the test: the worker's idle truncate stays out of it.
    const { store, main } = await open({ walAutocheckpointPages: 100, expandPollMs: 60_000 });
    const p = await store.createProject('p');
    await insertOld(store, p.id, 2000);
    // From an empty WAL, whatever the expansion's commits left in it.
    main.pragma('wal_checkpoint(TRUNCATE)');
    // One statement on the event loop's connection, as a retention or erasure batch commits
    // there: some 200 WAL frames, past the worker's bound (100) and under the backstop (400).
    const deleted = main
      .prepare('DELETE FROM events WHERE rowid IN (SELECT rowid FROM events ORDER BY ts LIMIT 1500)')
      .run().changes;
    expect(deleted).toBe(1500);
    const after = walState(store.path);
    expect(after.frames).toBeGreaterThan(100);
    expect(after.frames).toBeLessThan(100 * MAIN_AUTOCHECKPOINT_FACTOR);
    // Its commit did not checkpoint.
    expect(after.backfilled).toBeLessThan(after.frames);
    // The worker's next commit does.
    await store.insertEvents(p.id, [ev({ timestamp: new Date(T0).toISOString() })]);
    await store.drain();
    const then = walState(store.path);
    expect(then.frames < after.frames || then.backfilled === then.frames).toBe(true);
  });

  it('with nothing arriving, the idle worker checkpoints and truncates the WAL the deletes wrote', async () => {
    const { store } = await open({ walAutocheckpointPages: 100, expandPollMs: 20 });
    const p = await store.createProject('p');
    await insertOld(store, p.id, 3000);
    expect(await store.deleteEventsBefore(new Date(T0).toISOString(), 3000)).toBe(3000);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const { frames, backfilled } = walState(store.path);
      if (frames === 0 || backfilled === frames) break;
      if (Date.now() > deadline)
        throw new Error(`WAL not checkpointed: ${frames} frames, ${backfilled} copied`);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});
