import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_FILE, openLogFile, reconcileLogFile } from './sqlite-log-file.js';
import { tempDir } from './sqlite.test-helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const key = (n: number): Buffer => Buffer.alloc(16, n);

/** homing.db with the ingest log inside it, as versions before the log file had it. */
function legacyMain(dir: string, expandedThrough: number, rows: number[]): Database.Database {
  const db = new Database(join(dir, 'homing.db'));
  db.exec(`
    CREATE TABLE ingest_log (id INTEGER PRIMARY KEY AUTOINCREMENT, project_pk INTEGER NOT NULL,
      n INTEGER NOT NULL, keys BLOB NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE ingest_progress (id INTEGER PRIMARY KEY, expanded_through INTEGER NOT NULL);
  `);
  db.prepare('INSERT INTO ingest_progress VALUES (1, ?)').run(expandedThrough);
  const insert = db.prepare(
    "INSERT INTO ingest_log (id, project_pk, n, keys, payload) VALUES (?, 1, 1, ?, 'p')",
  );
  for (const id of rows) insert.run(id, key(id));
  return db;
}

function logRows(log: Database.Database): Array<{ id: number; keys: Buffer }> {
  return log.prepare('SELECT id, keys FROM ingest_log ORDER BY id').all() as Array<{
    id: number;
    keys: Buffer;
  }>;
}

const LOG_OPTIONS = { synchronous: 'normal', busyTimeoutMs: 1000, walAutocheckpointPages: 1000 } as const;

describe('reconcileLogFile: rows left in homing.db by versions before the log file', () => {
  it('a first open copies them with their ids (the expanded id still says which are done)', () => {
    const dir = tempDir();
    dirs.push(dir);
    const db = legacyMain(dir, 3, [2, 3, 4, 5]);
    const log = openLogFile(join(dir, LOG_FILE), LOG_OPTIONS);
    reconcileLogFile(db, log);
    expect(logRows(log).map((r) => r.id)).toEqual([2, 3, 4, 5]);
    expect(db.prepare('SELECT count(*) FROM ingest_log').pluck().get()).toBe(0);
    db.close();
    log.close();
  });

  it('rows an older server appended after the log file was made get fresh ids (their own were handed out and expanded); a row copied before is not copied twice', () => {
    const dir = tempDir();
    dirs.push(dir);
    // The new server's log handed out ids up to 46 and expanded them (trimmed: none left), and
    // holds row 30 copied from homing.db by an open that crashed before deleting it there.
    const log = openLogFile(join(dir, LOG_FILE), LOG_OPTIONS);
    const put = log.prepare(
      "INSERT INTO ingest_log (id, project_pk, n, keys, payload) VALUES (?, 1, 1, ?, 'p')",
    );
    put.run(46, key(200));
    log.exec('DELETE FROM ingest_log');
    put.run(30, key(30));
    // The old server, still running, appended 22-25 and 30 to its table inside homing.db.
    const db = legacyMain(dir, 46, [22, 23, 24, 25, 30]);
    reconcileLogFile(db, log);
    const rows = logRows(log);
    expect(rows.map((r) => r.keys[0])).toEqual([30, 22, 23, 24, 25]);
    expect(rows.slice(1).every((r) => r.id > 46)).toBe(true);
    expect(db.prepare('SELECT count(*) FROM ingest_log').pluck().get()).toBe(0);
    db.close();
    log.close();
  });

  it("fresh ids start above the expanded id, which an older server's expander may have pushed past the log file's ids", () => {
    const dir = tempDir();
    dirs.push(dir);
    const log = openLogFile(join(dir, LOG_FILE), LOG_OPTIONS);
    log
      .prepare("INSERT INTO ingest_log (id, project_pk, n, keys, payload) VALUES (100, 1, 1, ?, 'p')")
      .run(key(100));
    log.exec('DELETE FROM ingest_log');
    const db = legacyMain(dir, 1000, [41, 42, 43]);
    reconcileLogFile(db, log);
    const rows = logRows(log);
    expect(rows.map((r) => r.keys[0])).toEqual([41, 42, 43]);
    expect(rows.every((r) => r.id > 1000)).toBe(true);
    db.close();
    log.close();
  });
});
