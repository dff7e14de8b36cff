/** The part of a better-sqlite3 connection the idle shrink uses. */
export interface ShrinkConnection {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
}

/** What the idle expander worker gives `shrinkIdleFiles`. */
export interface IdleShrinkInput {
  /** The worker's connection to homing.db. */
  db: ShrinkConnection;
  /** The worker's connection to the ingest log file. */
  logDb: ShrinkConnection;
  /** The two WAL files' paths. */
  dbWal: string;
  logWal: string;
  /** A file's size in bytes, 0 when it is missing. */
  fileSize(path: string): number;
  /** Runs `fn` with the store's log writes held (`holdLogWrites` in sqlite-log-checkpoint.ts). */
  holdLogWrites<T>(fn: () => T): T | 'writer-busy';
  /** Runs `fn` holding homing.db's write turn (sqlite-write-turn.ts). */
  withWriteTurn<T>(fn: () => T): T;
  /** Whether work arrived since the worker went idle: it then stops here and expands. */
  woken(): boolean;
  /** The connections' busy timeout, put back after each step that runs without one. */
  busyTimeoutMs: number;
  /** Free bytes in the log file past which they are given back (`logVacuumFreeMiB`). */
  logVacuumFreeBytes: number;
  /** Nothing arrived for a whole poll period: the WALs are truncated as well. */
  quiet: boolean;
}

/**
 * What `shrinkIdleFiles` did: nothing was due; or it gave space back; or it stopped for work
 * that arrived, or for a reader or writer in its way ('busy': tried again at the next idle
 * moment, never waited for).
 */
export type IdleShrinkOutcome = 'nothing' | 'shrunk' | 'interrupted' | 'busy';

/**
 * Gives back the disk space the store's files hold beyond their data, from the expander worker
 * when it has nothing to expand. Both files otherwise stayed at their peak for good: the log
 * file at the size of the largest backlog (it then holds no row; 160-250 MB of free pages after
 * a 2-million-event burst), each WAL at its largest transaction or its longest stretch behind
 * a reader (124 MB and 69 MB).
 *
 * - The log's free pages, once past `logVacuumFreeBytes`: a log with little left in it (at
 *   most REBUILD_LIVE_BYTES) is rebuilt by VACUUM, which copies only its live pages (2-4 ms
 *   for an emptied log of 6 000 free 16 KiB pages, where incremental_vacuum took 80-170 ms), and
 *   which also converts a file an earlier version made without auto_vacuum; otherwise an
 *   incremental file is given back STEP_PAGES at a time. Each step takes the log's write
 *   lock, so it runs with the store's log writes held (the store would otherwise block its
 *   event loop in SQLite's busy handler behind it) and without a busy timeout.
 * - When `quiet`, both WALs are truncated (`wal_checkpoint(TRUNCATE)`): a PASSIVE checkpoint
 *   first, which takes no lock the store waits for and copies nearly everything, then the
 *   TRUNCATE, which copies the rest and needs every reader out of the WAL: with the log's
 *   writes held for the log, with homing.db's write turn for homing.db (its writers are this
 *   worker and the store's turn-taking writes), and without a busy timeout, so a reader in the
 *   way makes it answer busy at once instead of waiting with the lock held. Only when quiet,
 *   not after every chunk: under steady light ingest the worker goes idle after each small
 *   chunk, and truncating then would cost a checkpoint and two syncs a chunk and make every
 *   WAL write extend the file; `journal_size_limit` bounds the WALs meanwhile.
 *
 * Refers to nothing outside its body: the worker runs from source text and receives it as text.
 */
export function shrinkIdleFiles(x: IdleShrinkInput): IdleShrinkOutcome {
  // Live bytes up to which the log is rebuilt by VACUUM with its writes held: it copies them,
  // a few ms for a few MB, well inside the 250 ms the store waits for a hold.
  const REBUILD_LIVE_BYTES = 4 * 1024 * 1024;
  // Pages incremental_vacuum gives back per hold: 1 024 16 KiB pages took 8-20 ms.
  const STEP_PAGES = 256;
  const INCREMENTAL = 2;
  const simple = { simple: true };
  /** Runs `fn` on `conn` with no busy timeout: what is in the way answers busy at once. */
  const unwaiting = <T>(conn: ShrinkConnection, fn: () => T): T => {
    conn.pragma('busy_timeout = 0');
    try {
      return fn();
    } finally {
      conn.pragma(`busy_timeout = ${x.busyTimeoutMs}`);
    }
  };
  const log = x.logDb;
  const pageSize = log.pragma('page_size', simple) as number;
  let shrunk = false;

  // 1. The log file's free pages.
  let free = log.pragma('freelist_count', simple) as number;
  if (free * pageSize > x.logVacuumFreeBytes) {
    while (free > 0) {
      if (x.woken()) return 'interrupted';
      const step = x.holdLogWrites(() =>
        unwaiting(log, (): boolean => {
          // Looked at with the writes held: what the VACUUM would copy is what is there.
          const pages = log.pragma('page_count', simple) as number;
          const live = pages - (log.pragma('freelist_count', simple) as number);
          if (live * pageSize <= REBUILD_LIVE_BYTES) {
            log.pragma('auto_vacuum = INCREMENTAL');
            log.exec('VACUUM');
            return true;
          }
          if ((log.pragma('auto_vacuum', simple) as number) !== INCREMENTAL) return false;
          log.pragma(`incremental_vacuum(${STEP_PAGES})`);
          return true;
        }),
      );
      if (step === 'writer-busy') return 'busy';
      // An old file without auto_vacuum and still much in it: a later idle moment.
      if (!step) break;
      shrunk = true;
      const left = log.pragma('freelist_count', simple) as number;
      if (left >= free) break;
      free = left;
    }
  }

  // 2. The log's WAL: due after a vacuum too, which shrinks the file only once checkpointed.
  if ((x.quiet || shrunk) && x.fileSize(x.logWal) > 0) {
    log.pragma('wal_checkpoint(PASSIVE)');
    if (x.woken()) return 'interrupted';
    const r = x.holdLogWrites(
      () => (unwaiting(log, () => log.pragma('wal_checkpoint(TRUNCATE)')) as { busy: number }[])[0],
    );
    if (r === 'writer-busy' || r?.busy !== 0) return 'busy';
    shrunk = true;
  }

  // 3. homing.db's WAL.
  if (x.quiet && x.fileSize(x.dbWal) > 0) {
    x.db.pragma('wal_checkpoint(PASSIVE)');
    if (x.woken()) return 'interrupted';
    const r = x.withWriteTurn(
      () => (unwaiting(x.db, () => x.db.pragma('wal_checkpoint(TRUNCATE)')) as { busy: number }[])[0],
    );
    if (r?.busy !== 0) return 'busy';
    shrunk = true;
  }
  return shrunk ? 'shrunk' : 'nothing';
}
