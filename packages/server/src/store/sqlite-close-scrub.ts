import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { shrinkIdleFiles } from './sqlite-idle-shrink.js';

/** What the store logs once an erasure's scrub is done (by the idle expander or at close). */
export const SCRUBBED_MESSAGE =
  "erased data scrubbed from the store's files: the ingest log holds no free page and both WALs are truncated";

/** What `scrubAtClose` was given. */
export interface CloseScrubInput {
  /** The store's own connections; the expander worker has stopped. */
  db: Database.Database;
  logDb: Database.Database;
  /** homing.db and the log file. */
  path: string;
  logPath: string;
  busyTimeoutMs: number;
  /** Date.now() past which no further step begins (the close budget). */
  deadline: number;
}

/**
 * What `scrubAtClose` found: no scrub due; done (`through`: the log id it was due through); or
 * still due (the log rows it waits for are still there, a reader or another process was in the
 * way, or the budget ran out), for the next start's expander to do.
 */
export type CloseScrubOutcome =
  { kind: 'none' } | { kind: 'scrubbed'; through: number } | { kind: 'left'; through: number };

/**
 * The scrub an erasure left due (`ingest_progress.scrub_through`, SQLite migration 8), done by
 * close() on its own connections once the worker stopped and the expanded rows are trimmed: the
 * same steps as the idle expander's (sqlite-idle-shrink.ts with nothing kept free and both WALs
 * truncated), then the record cleared. A server stopped right after an erasure (a deploy) left the
 * person's bytes in the files until its next start's first idle moment. Each step is short on a
 * log with little left in it (a VACUUM copying a few MB, an incremental step of 256 pages), and
 * none begins past `deadline`; what is not done stays due for the next start.
 */
export function scrubAtClose(x: CloseScrubInput): CloseScrubOutcome {
  const through =
    (x.db.prepare('SELECT scrub_through FROM ingest_progress WHERE id = 1').pluck().get() as
      number | undefined) ?? 0;
  if (through === 0) return { kind: 'none' };
  const left: CloseScrubOutcome = { kind: 'left', through };
  if (x.logDb.prepare('SELECT 1 FROM ingest_log WHERE id <= ? LIMIT 1').get(through) !== undefined)
    return left;
  const fileSize = (file: string): number => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const dbWal = `${x.path}-wal`;
  const logWal = `${x.logPath}-wal`;
  try {
    shrinkIdleFiles({
      db: x.db,
      logDb: x.logDb,
      dbWal,
      logWal,
      fileSize,
      // Nothing else of this store writes any more: no hold or turn to wait for.
      holdLogWrites: (fn) => fn(),
      withWriteTurn: (fn) => fn(),
      woken: () => Date.now() >= x.deadline,
      busyTimeoutMs: x.busyTimeoutMs,
      logVacuumFreeBytes: 0,
      quiet: true,
    });
  } catch (err) {
    // Another process's lock: the next start scrubs.
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return left;
    throw err;
  }
  const clean =
    x.logDb.pragma('freelist_count', { simple: true }) === 0 &&
    fileSize(logWal) === 0 &&
    fileSize(dbWal) === 0;
  if (!clean) return left;
  // Under the write lock, and only while homing.db's WAL is still empty: another process's
  // erasure or removal that committed since keeps its due (see the expander's scrubDone).
  const clearScrubDue = x.db.prepare(
    'UPDATE ingest_progress SET scrub_through = 0 WHERE id = 1 AND scrub_through <= ?',
  );
  try {
    const cleared = x.db
      .transaction((): boolean => {
        if (fileSize(dbWal) !== 0) return false;
        clearScrubDue.run(through);
        return true;
      })
      .immediate();
    return cleared ? { kind: 'scrubbed', through } : left;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') return left;
    throw err;
  }
}
