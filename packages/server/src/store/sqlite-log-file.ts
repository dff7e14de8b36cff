import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { walSizeLimitBytes } from './sqlite-options.js';

/** The ingest log's file, beside `homing.db` in the data directory. */
export const LOG_FILE = 'ingest-log.db';
/** Page size of a new log file. */
const LOG_PAGE_SIZE = 16_384;

export interface LogFileOptions {
  synchronous: 'normal' | 'full';
  busyTimeoutMs: number;
  walAutocheckpointPages: number;
}

/**
 * Opens (creating if needed) the ingest log's own database file. The log is written by the
 * store's thread and read by the expander worker; it holds only unexpanded batches, so it
 * stays small and its checkpoints short.
 */
export function openLogFile(path: string, o: LogFileOptions): Database.Database {
  const db = new Database(path, { timeout: o.busyTimeoutMs });
  try {
    // Large pages for a new file (an existing one keeps its size): a log row is one call's
    // batch, ~17 KB for 100 events, five overflow pages at 4 KiB, and SQLite writes each WAL
    // frame with two pwrite calls: strace counted ~11 on this thread a batch at 4 KiB, ~1.6 at
    // 64 KiB. 16 KiB rather than 64: a row is then a small part in a leaf page shared with
    // other rows and one overflow page, which trimming frees without writing it again, where
    // at 64 KiB three rows filled a leaf page that every trim wrote back whole to the WAL.
    // Measured with 17 KB rows, 10 a transaction, 200 trimmed at a time: append 24 µs a row
    // at 16 KiB, 25 µs at 64 KiB, 38 µs at 4 KiB; trim 2 µs a row, 8 µs, 11 µs.
    db.pragma(`page_size = ${LOG_PAGE_SIZE}`);
    // Free pages can be given back (sqlite-idle-shrink.ts): the log holds only unexpanded
    // events, so after a backlog it is mostly free pages, and without this the file kept the
    // size of the largest backlog ever (160-250 MB holding no row). It must be set before the
    // first table is created; on an existing file without it, it only marks what the idle
    // expander's VACUUM will convert the file to. It costs appends one pointer-map page in a
    // commit's frames (append time the same within noise, 17 KB rows, 10 a transaction).
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${o.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    // The option counts 4 KiB pages (homing.db's); the same WAL size in this file's pages.
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.pragma(
      `wal_autocheckpoint = ${Math.max(1, Math.round((o.walAutocheckpointPages * 4096) / pageSize))}`,
    );
    db.pragma(`journal_size_limit = ${walSizeLimitBytes(o)}`);
    db.pragma('foreign_keys = OFF');
    // A trimmed row's bytes are zeroed inside the pages that stay (the erasure scrub gives back
    // the freed ones: sqlite-expander-worker.ts): else a person's small rows, sharing leaf pages
    // with rows that stay, outlived their erasure there. FAST costs no extra I/O, where ON would
    // also write every freed overflow page again on the hot path.
    db.pragma('secure_delete = FAST');
    // AUTOINCREMENT: ids only grow, so a connection that has seen an id never misses a newer
    // row's keys, and the expanded id recorded in homing.db keeps meaning the same rows.
    db.exec(`CREATE TABLE IF NOT EXISTS ingest_log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      project_pk INTEGER NOT NULL,
      n INTEGER NOT NULL,
      keys BLOB NOT NULL,
      payload TEXT NOT NULL
    )`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

interface LegacyRow {
  id: number;
  project_pk: number;
  n: number;
  keys: Buffer;
  payload: string;
}

/**
 * Makes the log file agree with homing.db, at open:
 * - rows an earlier version left in homing.db's own `ingest_log` are copied to the log file,
 *   then deleted from homing.db. On the log file's first open a row keeps its id (what the
 *   expanded id says of it holds). Later, a row at an id the log file holds with the same keys
 *   is one copied before (a crash between the copy and the delete: skipped); any other is one
 *   an older server still running on this directory appended after the log file was made (a
 *   rolling deploy), and gets a fresh id above every id either file knows of, so it is
 *   expanded (with its own id it was dropped as a duplicate id, or skipped as at or below the
 *   expanded id, and lost; a row expanded already is deduplicated by its keys);
 * - the log file's next id is raised above every id homing.db knows of (the expanded id and
 *   the old table's ids), so a log file that was removed or replaced never hands out an id the
 *   expander would take for already expanded.
 */
export function reconcileLogFile(db: Database.Database, logDb: Database.Database): void {
  const legacy = db.prepare('SELECT id, project_pk, n, keys, payload FROM ingest_log ORDER BY id');
  const copy = logDb.prepare(
    'INSERT INTO ingest_log (id, project_pk, n, keys, payload) VALUES (?, ?, ?, ?, ?)',
  );
  const copyFresh = logDb.prepare(
    'INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (?, ?, ?, ?)',
  );
  const handedOut = logDb.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'ingest_log'").pluck();
  const keysAt = logDb.prepare('SELECT keys FROM ingest_log WHERE id = ?').pluck();
  // The log file handed out ids before: a fresh id must also be above every id homing.db knows
  // of (the expanded id, which an older server's expander may have pushed past the log's ids).
  const firstOpen = ((handedOut.get() as number | undefined) ?? 0) === 0;
  if (!firstOpen) raiseLogIds(db, logDb);
  for (;;) {
    const rows = legacy.all() as LegacyRow[];
    if (rows.length === 0) break;
    logDb
      .transaction(() => {
        for (const r of rows) {
          if (firstOpen && r.id > ((handedOut.get() as number | undefined) ?? 0)) {
            copy.run(r.id, r.project_pk, r.n, r.keys, r.payload);
            continue;
          }
          const there = keysAt.get(r.id) as Buffer | undefined;
          if (there !== undefined && there.equals(r.keys)) continue;
          copyFresh.run(r.project_pk, r.n, r.keys, r.payload);
        }
      })
      .immediate();
    db.prepare('DELETE FROM ingest_log WHERE id <= ?').run(rows[rows.length - 1]!.id);
  }
  raiseLogIds(db, logDb);
}

/** Raises the log file's next id above every id homing.db knows of (see `reconcileLogFile`). */
function raiseLogIds(db: Database.Database, logDb: Database.Database): void {
  const floor = Math.max(
    (db.prepare('SELECT expanded_through FROM ingest_progress WHERE id = 1').pluck().get() as
      number | undefined) ?? 0,
    (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'ingest_log'").pluck().get() as
      number | undefined) ?? 0,
  );
  logDb
    .transaction(() => {
      const seq = logDb.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'ingest_log'").pluck().get() as
        number | undefined;
      const max = (logDb.prepare('SELECT max(id) FROM ingest_log').pluck().get() as number | null) ?? 0;
      if (seq === undefined) {
        logDb
          .prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('ingest_log', ?)")
          .run(Math.max(floor, max));
      } else if (seq < floor) {
        logDb.prepare("UPDATE sqlite_sequence SET seq = ? WHERE name = 'ingest_log'").run(floor);
      }
    })
    .immediate();
}

/**
 * `read` on the log file opened read-only, without creating it: `fallback` when there is no
 * file or it has no `ingest_log` table yet. What `read` or the open throws is the caller's.
 */
export function readLogFile<T>(logPath: string, fallback: T, read: (log: Database.Database) => T): T {
  if (!existsSync(logPath)) return fallback;
  const log = new Database(logPath, { readonly: true, fileMustExist: true });
  try {
    const has = log.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ingest_log'").get();
    return has === undefined ? fallback : read(log);
  } finally {
    log.close();
  }
}

/** What to do about a log file that is damaged: moving it aside loses what it holds. */
export const LOG_DAMAGE_ADVICE =
  'move it aside (with its -wal and -shm files): events it held that were not yet expanded into homing.db are lost';
