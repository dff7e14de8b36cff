import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { shrinkIdleFiles, type IdleShrinkInput } from './sqlite-idle-shrink.js';
import { ev } from './store.contract.js';
import { LOG_FILE } from './sqlite-log-file.js';
import type { SqliteStore } from './sqlite.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';

const MiB = 1024 * 1024;
/** Small bounds so a few tens of MB are well past them: WAL limit 1 MiB, 1 MiB of free log pages. */
const OPTIONS = {
  walAutocheckpointPages: 256,
  logVacuumFreeMiB: 1,
  expandChunkEvents: 20_000,
  expandPollMs: 50,
  expandRetryMs: 50,
  busyTimeoutMs: 200,
  keyFilterMiB: 0,
};
const EVENTS = 30_000;
const PADDING = 'x'.repeat(600);

const dirs: string[] = [];
const stores: SqliteStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function size(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function sizes(dir: string) {
  return {
    dbWal: size(join(dir, 'homing.db-wal')),
    log: size(join(dir, LOG_FILE)),
    logWal: size(join(dir, `${LOG_FILE}-wal`)),
  };
}

/** Polls until `ok` (the worker shrinks on its own time): a deadline, not a timing assert. */
async function eventually(ok: () => boolean, deadlineMs = 60_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!ok()) {
    if (Date.now() > until) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function countEvents(dir: string): number {
  const db = new Database(join(dir, 'homing.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  } finally {
    db.close();
  }
}

async function insert(store: SqliteStore, projectId: string, n: number): Promise<void> {
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) =>
      ev({ properties: { i: i + j, pad: PADDING } }),
    );
    calls.push(store.insertEvents(projectId, batch));
    if (calls.length >= 16) await Promise.all(calls.splice(0));
  }
  await Promise.all(calls);
}

/**
 * Builds a backlog of EVENTS in the log file while the expander cannot expand (another
 * connection holds homing.db's write lock) and the log's WAL cannot start over (a reader holds
 * its first snapshot), so both files grow well past the bounds whatever the machine's speed;
 * then lets go. The expander's failed attempts meanwhile are expected (busy).
 */
async function backlog(dir: string, store: SqliteStore, projectId: string): Promise<void> {
  const blocker = new Database(join(dir, 'homing.db'));
  const reader = new Database(join(dir, LOG_FILE));
  try {
    blocker.exec('BEGIN IMMEDIATE');
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM ingest_log').get();
    await insert(store, projectId, EVENTS);
    const peak = sizes(dir);
    expect(peak.log + peak.logWal).toBeGreaterThan(16 * MiB);
    expect(peak.logWal).toBeGreaterThan(8 * MiB);
  } finally {
    if (reader.inTransaction) reader.exec('COMMIT');
    reader.close();
    if (blocker.inTransaction) blocker.exec('ROLLBACK');
    blocker.close();
  }
}

/** Expands the backlog, then waits for the idle worker to shrink the files below the bounds. */
async function expectShrunk(dir: string, store: SqliteStore, projectId: string, total: number) {
  await store.drain();
  // homing.db's WAL grew by at least one chunk of 20 000 events of ~700 bytes.
  expect(sizes(dir).dbWal + size(join(dir, 'homing.db'))).toBeGreaterThan(8 * MiB);
  const small = () => {
    const s = sizes(dir);
    return s.dbWal <= MiB && s.logWal <= MiB && s.log <= 2 * MiB;
  };
  await eventually(small);
  const after = sizes(dir);
  const said = `file sizes after idle: ${JSON.stringify(after)}`;
  expect(after.dbWal, said).toBeLessThanOrEqual(MiB);
  expect(after.logWal, said).toBeLessThanOrEqual(MiB);
  expect(after.log, said).toBeLessThanOrEqual(2 * MiB);
  expect(countEvents(dir)).toBe(total);
  // Ingest goes on after the shrink, and what it takes is stored.
  await insert(store, projectId, 1000);
  await store.drain();
  expect(countEvents(dir)).toBe(total + 1000);
}

describe('SqliteStore gives disk space back when idle', () => {
  it('truncates both WALs and vacuums the log file once the backlog is expanded', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const store = await openSqlite({ ...OPTIONS, dataDir: dir, onBackgroundError: () => {} });
    stores.push(store);
    const p = await store.createProject('p');
    await backlog(dir, store, p.id);
    await expectShrunk(dir, store, p.id, EVENTS);
    const logDb = new Database(join(dir, LOG_FILE), { readonly: true });
    try {
      // A new log file can give pages back a step at a time.
      expect(logDb.pragma('auto_vacuum', { simple: true })).toBe(2);
    } finally {
      logDb.close();
    }
  }, 120_000);

  it('shrinks a log file an earlier version made without auto_vacuum, and converts it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    // As the version before made it (sqlite-log-file.ts then): 16 KiB pages, no auto_vacuum.
    const old = new Database(join(dir, LOG_FILE));
    old.pragma('page_size = 16384');
    old.pragma('journal_mode = WAL');
    old.exec(`CREATE TABLE ingest_log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      project_pk INTEGER NOT NULL,
      n INTEGER NOT NULL,
      keys BLOB NOT NULL,
      payload TEXT NOT NULL
    )`);
    expect(old.pragma('auto_vacuum', { simple: true })).toBe(0);
    old.close();

    const store = await openSqlite({ ...OPTIONS, dataDir: dir, onBackgroundError: () => {} });
    stores.push(store);
    const p = await store.createProject('p');
    await backlog(dir, store, p.id);
    await expectShrunk(dir, store, p.id, EVENTS);
    const logDb = new Database(join(dir, LOG_FILE), { readonly: true });
    try {
      expect(logDb.pragma('auto_vacuum', { simple: true })).toBe(2);
      // Ids still only grow past the VACUUM (AUTOINCREMENT's sequence is kept).
      const seq = logDb.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'ingest_log'").pluck().get();
      expect(seq).toBeGreaterThanOrEqual((EVENTS + 1000) / 100);
    } finally {
      logDb.close();
    }
  }, 120_000);
});

describe('shrinkIdleFiles', () => {
  it('answers busy at once while a reader holds the WAL, keeps the busy timeout, and truncates once it is gone', () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir, 'homing.db');
    const logFile = join(dir, LOG_FILE);
    const open = (path: string) => {
      const c = new Database(path, { timeout: 4000 });
      c.pragma('journal_mode = WAL');
      c.pragma('wal_autocheckpoint = 0');
      c.exec('CREATE TABLE IF NOT EXISTS t (x BLOB)');
      return c;
    };
    const db = open(file);
    const logDb = open(logFile);
    const insert = db.prepare('INSERT INTO t (x) VALUES (?)');
    for (let i = 0; i < 200; i++) insert.run(Buffer.alloc(3000, i));
    const reader = new Database(file);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM t').get();
    insert.run(Buffer.alloc(3000));
    const input: IdleShrinkInput = {
      db,
      logDb,
      dbWal: `${file}-wal`,
      logWal: `${logFile}-wal`,
      fileSize: size,
      holdLogWrites: (fn) => fn(),
      withWriteTurn: (fn) => fn(),
      woken: () => false,
      busyTimeoutMs: 4000,
      logVacuumFreeBytes: MiB,
      quiet: true,
    };
    try {
      expect(shrinkIdleFiles(input)).toBe('busy');
      expect(size(`${file}-wal`)).toBeGreaterThan(0);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(4000);
      reader.exec('COMMIT');
      expect(shrinkIdleFiles(input)).toBe('shrunk');
      expect(size(`${file}-wal`)).toBe(0);
      expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(201);
      // Nothing left to do: the next idle moment does nothing.
      expect(shrinkIdleFiles(input)).toBe('nothing');
      // Not quiet (work came and went since the last sleep): the WALs are left to their bound.
      insert.run(Buffer.alloc(3000));
      expect(shrinkIdleFiles({ ...input, quiet: false })).toBe('nothing');
    } finally {
      reader.close();
      db.close();
      logDb.close();
    }
  });
});
