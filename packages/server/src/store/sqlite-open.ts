/**
 * Opening the SQLite store's two files and bringing homing.db's schema up to date, with each
 * failure told in words an operator can act on (a missing addon, a full disk and a damaged file
 * want different things done; see sqlite-open-failure.ts).
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { createDatabaseFile } from './dataDirModes.js';
import { StoreError } from './errors.js';
import { makeDataDir } from './makeDataDir.js';
import { refuseNewerSchema } from './newer-schema.js';
import { codeAndMessage, diskFullAtOpen, isDiskFull } from './sqlite-errors.js';
import {
  LOG_DAMAGE_ADVICE,
  LOG_FILE,
  openLogFile,
  readLogFile,
  reconcileLogFile,
} from './sqlite-log-file.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import { isNativeModuleFailure, nativeModuleError } from './sqlite-native-module.js';
import { notWritableAdvice, openFailureAdvice } from './sqlite-open-failure.js';
import { walSizeLimitBytes, type ResolvedSqliteOptions, type SqliteStoreOptions } from './sqlite-options.js';
import type { WriteTurn } from './sqlite-write-turn.js';

/** better-sqlite3's constructor: the default of the `openDatabase` option. */
function openBetterSqlite(file: string, options: Database.Options): Database.Database {
  return new Database(file, options);
}

/** Creates the data directory if it is missing, its owner's alone (see dataDirModes.ts). */
export function makeStoreDataDir(dataDir: string): void {
  try {
    makeDataDir(dataDir);
  } catch (err) {
    if (isDiskFull(err)) throw diskFullAtOpen(dataDir, err);
    const code = (err as NodeJS.ErrnoException).code;
    // A symbolic link to nothing (its target removed, or on a disk not mounted) is no file: told
    // as one, nobody found what was in the way.
    const dangling = code === 'EEXIST' ? danglingLinkOnPath(dataDir) : undefined;
    // A file where the directory, or one of its parents, should be: "choose a writable
    // directory" sent users looking at permissions.
    const advice = dangling
      ? `${dangling.link} is a dangling symbolic link: it points to ${dangling.target}, which does not exist; ` +
        'create that directory (or mount the disk it is on), or point the link or --data-dir / HOMING_DATA_DIR elsewhere'
      : code === 'EEXIST'
        ? `${dataDir} is a file, not a directory; move it aside, or choose another directory with --data-dir or HOMING_DATA_DIR`
        : code === 'ENOTDIR'
          ? 'a part of its path is a file, not a directory; choose another directory with --data-dir or HOMING_DATA_DIR'
          : 'choose a writable directory with --data-dir or HOMING_DATA_DIR';
    throw new StoreError('data-dir', `cannot create the data directory ${dataDir} (${code}); ${advice}`, {
      cause: err,
    });
  }
}

/** The first symbolic link on `dataDir`'s path (itself, then its parents) whose target does not exist. */
function danglingLinkOnPath(dataDir: string): { link: string; target: string } | undefined {
  for (let at = resolve(dataDir); ; at = dirname(at)) {
    try {
      if (lstatSync(at).isSymbolicLink() && !existsSync(at)) return { link: at, target: readlinkSync(at) };
    } catch {
      // Not there at all, or not ours to look at: not a dangling link.
    }
    if (dirname(at) === at) return undefined;
  }
}

/** How far past the worker's autocheckpoint bound this thread's own one is (a backstop). */
export const MAIN_AUTOCHECKPOINT_FACTOR = 4;

/**
 * The event loop's connection's `wal_autocheckpoint`, pages. An autocheckpoint runs inside the
 * commit that takes the WAL past the bound, on the thread that commits: on a 2-million-event
 * database, a retention or erasure batch whose commit did so held the event loop 0.4-1 s
 * (copying 64 MB back), where the batch itself took 20-40 ms. The expander worker checkpoints
 * homing.db off the event loop (its own commits' autocheckpoint under ingest, the idle
 * truncate each poll period when nothing arrives), so here the bound is only a backstop, for a
 * worker that cannot (one failing, or stopped). A projects-only store has no worker.
 */
export function mainWalAutocheckpointPages(opts: ResolvedSqliteOptions): number {
  return opts.projectsOnly
    ? opts.walAutocheckpointPages
    : opts.walAutocheckpointPages * MAIN_AUTOCHECKPOINT_FACTOR;
}

/** Opens homing.db (WAL, the store's pragmas) and makes sure its migrations table exists. */
export function openMainDatabase(
  path: string,
  opts: ResolvedSqliteOptions,
  openDatabase: SqliteStoreOptions['openDatabase'],
): Database.Database {
  let db: Database.Database | undefined;
  try {
    // Made here rather than by SQLite, which would give it the umask's mode (see dataDirModes.ts).
    createDatabaseFile(path);
    db = (openDatabase ?? openBetterSqlite)(path, { timeout: opts.busyTimeoutMs });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma(`cache_size = ${-opts.cacheSizeMiB * 1024}`);
    db.pragma(`wal_autocheckpoint = ${mainWalAutocheckpointPages(opts)}`);
    db.pragma(`journal_size_limit = ${walSizeLimitBytes(opts)}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('foreign_keys = OFF');
    // Erasure, retention and project removal delete on this connection: what they delete is
    // overwritten, not left in free pages (where a copy of the file, a backup, still had it).
    db.pragma('secure_delete = ON');
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
    );
    // `homing projects` only reads, or writes what it is asked to and says so if it cannot.
    if (!opts.projectsOnly) assertWritable(db, path, opts.dataDir);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof StoreError) throw err;
    // Neither a missing addon nor a full disk is damage: moving the files aside would not help
    // the first and would lose events in the second.
    if (isNativeModuleFailure(err)) throw nativeModuleError(err);
    if (isDiskFull(err)) throw diskFullAtOpen(path, err);
    throw new StoreError(
      'data-dir',
      `cannot open ${path} as a SQLite database (${codeAndMessage(err)}): ` +
        openFailureAdvice(
          (err as { code?: unknown }).code,
          path,
          opts.dataDir,
          'move it aside (with its -wal and -shm files) and restore a backup',
        ),
      { cause: err },
    );
  }
}

/**
 * Refuses a database file this process may read but not write. SQLite opens such a file
 * read-only without a word, and reading works: a server started on a homing.db left root's by
 * a `sudo homing ...` answered ready and acknowledged events into the ingest log, which the
 * expander could then never move into homing.db (SQLITE_READONLY once a minute, the log growing
 * for good). Found by a write that is rolled back: user_version set to its own value writes
 * the header page (BEGIN IMMEDIATE alone succeeds on a read-only file in WAL mode). A write lock
 * held elsewhere past the busy timeout proves nothing: the first real write tells.
 */
export function assertWritable(db: Database.Database, path: string, dataDir: string): void {
  try {
    db.exec('BEGIN IMMEDIATE');
    db.pragma(`user_version = ${Number(db.pragma('user_version', { simple: true }))}`);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')))
      return;
    if (typeof code !== 'string' || !code.startsWith('SQLITE_READONLY')) throw err;
    throw new StoreError(
      'data-dir',
      `cannot write ${path} (${codeAndMessage(err)}): this process may read it but not write it, and ` +
        `would acknowledge events it can never store; ${notWritableAdvice(path, dataDir)}`,
      { cause: err },
    );
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
  }
}

/**
 * Applies the migrations homing.db lacks, each in its own write turn and immediate
 * transaction; refuses a schema a newer Homing wrote.
 */
export async function applyMigrations(db: Database.Database, turn: WriteTurn, path: string): Promise<void> {
  const applied = new Set(db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
  refuseNewerSchema('SQLite', path, applied, SQLITE_MIGRATIONS);
  for (const m of SQLITE_MIGRATIONS) {
    if (applied.has(m.version)) continue;
    try {
      await turn.runAsync(() =>
        db
          .transaction(() => {
            // Re-checked under the write lock: another process may have applied it meanwhile.
            const done = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(m.version);
            if (done) return;
            db.exec(m.sql);
            runAfterMigration(m, db, path);
            db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
              m.version,
              m.name,
              new Date().toISOString(),
            );
          })
          .immediate(),
      );
    } catch (err) {
      if (isDiskFull(err)) throw diskFullAtOpen(path, err);
      if (err instanceof StoreError) throw err;
      throw new StoreError(
        'migration',
        `SQLite migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
}

/**
 * A migration's step that reads the ingest log file (v6: the highest project pk it names). That
 * file failing to open is told as the log's own problem, with its advice (whose files, which
 * chown, or damage), not as a failed upgrade of homing.db: "unable to open database file" with
 * a hint about newer versions sent an operator looking at the wrong file.
 */
function runAfterMigration(m: (typeof SQLITE_MIGRATIONS)[number], db: Database.Database, path: string): void {
  if (m.then === undefined) return;
  const dataDir = dirname(path);
  const logPath = join(dataDir, LOG_FILE);
  try {
    m.then(db, logPath);
  } catch (err) {
    if (isDiskFull(err)) throw err;
    throw new StoreError(
      'data-dir',
      `cannot read the ingest log ${logPath} to upgrade ${path} (${codeAndMessage(err)}); nothing was changed: ` +
        openFailureAdvice((err as { code?: unknown }).code, logPath, dataDir, LOG_DAMAGE_ADVICE),
      { cause: err },
    );
  }
}

/**
 * Refuses to start a homing.db that has no schema yet beside an ingest log that holds events.
 * Those were acknowledged by an earlier run into the homing.db that is now missing (moved aside
 * as the damage advice says, deleted, a volume not mounted); this start would create a new
 * homing.db with its own default project, and the expander would drop every log row as one of
 * a removed project, so restoring the old homing.db afterwards could not bring them back.
 */
export function refuseOrphanedLog(db: Database.Database, logPath: string, path: string): void {
  const migrated = db.prepare('SELECT 1 FROM schema_migrations LIMIT 1').get() !== undefined;
  if (migrated) return;
  const none = { rows: 0, events: null };
  let waiting: { rows: number; events: number | null };
  try {
    waiting = readLogFile(
      logPath,
      none,
      (log) => log.prepare('SELECT count(*) AS rows, sum(n) AS events FROM ingest_log').get() as typeof none,
    );
  } catch {
    // A log that cannot be read is told by openIngestLog, with its own advice.
    return;
  }
  if (waiting.rows === 0) return;
  throw new StoreError(
    'data-dir',
    `${logPath} holds ${waiting.events ?? 0} acknowledged events not yet stored in ${path}, ` +
      `but ${path} is new (it was missing at this start): they belong to the homing.db that was there ` +
      `before. Keep the server stopped, put that homing.db (or its backup, with its -wal file) back ` +
      `in place of the new one, and start again: the events are then stored. To start afresh ` +
      `and give them up, move ${logPath} (with its -wal and -shm files) aside as well.`,
  );
}

/** Opens the ingest log's file and reconciles it with homing.db (see `reconcileLogFile`). */
export function openIngestLog(
  db: Database.Database,
  logPath: string,
  opts: ResolvedSqliteOptions,
): Database.Database {
  let logDb: Database.Database | undefined;
  try {
    createDatabaseFile(logPath);
    logDb = openLogFile(logPath, opts);
    assertWritable(logDb, logPath, opts.dataDir);
    reconcileLogFile(db, logDb);
    return logDb;
  } catch (err) {
    logDb?.close();
    if (err instanceof StoreError) throw err;
    if (isDiskFull(err)) throw diskFullAtOpen(logPath, err);
    throw new StoreError(
      'data-dir',
      `cannot open the ingest log ${logPath} (${codeAndMessage(err)}): ` +
        openFailureAdvice((err as { code?: unknown }).code, logPath, opts.dataDir, LOG_DAMAGE_ADVICE),
      { cause: err },
    );
  }
}
