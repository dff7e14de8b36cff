/** What the SQLite store's failures are, in words an operator can act on. */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from './errors.js';

/** An open failure's code and message, both: a code alone does not say which file or why. */
export function codeAndMessage(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

export function storageError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  if (isDiskFull(err))
    return new StoreError('disk-full', `SQLite write failed: the disk is full (${(err as Error).message})`, {
      cause: err,
    });
  return new StoreError('storage', `SQLite write failed: ${(err as Error).message}`, { cause: err });
}

/**
 * A failure of SQLite itself (better-sqlite3's SqliteError: busy, locked, I/O, corrupt, full) or
 * of the disk under it, as opposed to a fault in the code calling it.
 */
export function isSqliteFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && code.startsWith('SQLITE_')) || isDiskFull(err);
}

/** Another connection holds the lock asked for (SQLITE_BUSY and its extended codes). */
export function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Longest readiness waits for the ingest log's write lock, ms: a commit of another connection
 * (a second server, `homing projects remove`) lasts a few ms, an operator's session holds it
 * until it ends. PostgreSQL's probe waits as long for its lock.
 */
export const READY_LOCK_WAIT_MS = 250;

/**
 * An insertEvents call refused because it waited `waitedMs` for the expander (backpressure:
 * `pending` events wait to be expanded into homing.db). Nothing of it was written.
 */
export function backpressureTimeout(pending: number, waitedMs: number): StoreError {
  return new StoreError(
    'timeout',
    `${pending} events wait to be expanded into homing.db and this batch waited ${Math.round(waitedMs / 1000)} s ` +
      'for room (busyTimeoutMs); nothing of it was stored. If expansion makes no progress, another process ' +
      "may hold homing.db's write lock (a sqlite3 shell in a transaction, a VACUUM, a backup tool)",
  );
}

/**
 * What `ping` throws while ingest is refused because the expander has made no progress past
 * the bound: `reason` is what /readyz answers.
 */
export class ExpansionStalledError extends StoreError {
  readonly reason = 'expansion-stalled';
  constructor(pending: number, stalledMs: number) {
    super(
      'timeout',
      `ingest is held: ${pending} events wait to be expanded into homing.db and expansion has made no ` +
        `progress for ${Math.round(stalledMs / 1000)} s; another process may hold homing.db's write lock ` +
        '(a sqlite3 shell in a transaction, a VACUUM, a backup tool)',
    );
  }
}

/** Free room a store whose last write found the disk full needs before it says it is ready (at least). */
export const READY_MIN_FREE_BYTES = 4 * 1024 * 1024;

/**
 * Free room the expander needs to get going again after the disk filled, bytes: twice the
 * ingest log and both WALs. Expansion checkpoints homing.db's WAL into homing.db (which grows by
 * what the WAL holds) and writes each chunk to that WAL before the log gives its pages back, so
 * the disk must hold the backlog twice for a while: a 40 MiB tmpfs stuck full (ingest-log.db
 * 19.9 MB, WALs 11 and 7.8 MB) used 94 MB at the peak of its recovery and 31 MB after. With
 * less, every attempt failed with SQLITE_FULL and the server stayed unready with no load.
 */
export function roomToRecover(dataDir: string, logFile: string): number {
  let bytes = 0;
  for (const f of [logFile, `${logFile}-wal`, 'homing.db-wal']) {
    try {
      bytes += statSync(join(dataDir, f)).size;
    } catch {
      /* absent: nothing to hold */
    }
  }
  return 2 * bytes;
}

/** What an operator reads when expansion, or readiness, found the disk full. */
export function diskFullAdvice(dataDir: string, logFile: string): string {
  const mib = Math.ceil(roomToRecover(dataDir, logFile) / (1024 * 1024));
  return (
    `expanding the ingest log needs about ${mib} MiB free under ${dataDir} (twice ${logFile} and the -wal files); ` +
    'free room or grow the disk, and do not delete or move the database files: they hold acknowledged events'
  );
}

/**
 * SQLite's "database or disk is full", its shared-memory file that cannot grow (the -shm file
 * is extended when a database opens), or the file system's own ENOSPC/EDQUOT.
 */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'SQLITE_FULL' || code === 'SQLITE_IOERR_SHMSIZE' || code === 'ENOSPC' || code === 'EDQUOT';
}

export function diskFullAtOpen(file: string, err: unknown): StoreError {
  const code = (err as { code?: unknown }).code;
  return new StoreError(
    'disk-full',
    `cannot open ${file}: the disk is full (${typeof code === 'string' ? code : 'no space'}); nothing is damaged. ` +
      'Free room on that disk and start again; do not move or delete the database files: they hold ' +
      'events already acknowledged',
    { cause: err },
  );
}
