import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { MAX_TIMER_MS } from '../maxTimer.js';
import { StoreError } from './errors.js';
import type { StoreNotice } from './sqlite-backlog-notice.js';

export interface SqliteStoreOptions {
  /** Directory holding `homing.db` (and its `-wal`/`-shm` files); created if missing. */
  dataDir: string;
  /**
   * `normal` (default): WAL with synchronous=NORMAL. A committed batch survives a crash or
   * SIGKILL of the process; a power loss or OS crash may lose the last transactions committed
   * since the last checkpoint, never corrupting the file. `full`: fsync on every commit, so a
   * batch survives power loss too, at the cost of one fsync per group commit.
   */
  synchronous?: 'normal' | 'full';
  /** SQLite page cache, MiB. Default 256: keeps the uniqueness index of random keys in memory. */
  cacheSizeMiB?: number;
  /**
   * Events the expander worker moves from the ingest log to `events` per transaction. Larger
   * chunks amortise the random index pages (each dirty page goes to the WAL once per commit):
   * on the reference machine, 200 000 random (v4) uuids into a table of 200 000 cost about 43 µs
   * of CPU an event all told (acknowledged and expanded) in 1000-event chunks, 31 µs in 8000,
   * 24–29 µs in 30 000; 1.6–2 million v4 events over HTTP expanded at 51–55 000/s in chunks of
   * 20 000 and 65–75 000/s in 80 000 to 120 000 (v7: 84–88 000/s and 102–116 000/s), and the
   * ingest p99 fell from 130–270 ms to 26–37 ms. Acknowledgements never wait for a chunk (the
   * log is a file of its own) except at `maxPendingEvents`; this store's other writes (projects,
   * erasure, retention) wait for the chunk in progress, up to about a second at the default
   * with random uuids under load. Default 80 000.
   */
  expandChunkEvents?: number;
  /**
   * Unexpanded events (log rows) this store lets pile up before insertEvents waits for the
   * expander (backpressure). Bounds the memory of the dedup index (36-56 bytes an event,
   * so under 60 MB at the default). Default 1 000 000.
   */
  maxPendingEvents?: number;
  /**
   * WAL pages before SQLite checkpoints into the database file (the ingest log: as many bytes);
   * the event loop's connection to homing.db waits for 4 times this
   * (`mainWalAutocheckpointPages`: only a backstop, the worker checkpoints that file). Larger
   * means fewer, longer checkpoints and a larger `-wal` file (up to about this × 4 KiB).
   * Default 16 000 (64 MiB).
   * Also each connection's `journal_size_limit` (`walSizeLimitBytes`): one expansion commit
   * can take a WAL past it, and the WAL is cut back to it when it starts over; the idle
   * expander truncates both WALs to nothing (see README, file sizes).
   */
  walAutocheckpointPages?: number;
  /**
   * Free space in the ingest log file, MiB, past which the idle expander gives it back to the
   * file system (incremental_vacuum, or a VACUUM of a nearly empty log; see
   * sqlite-idle-shrink.ts). The log holds only unexpanded events, so after a backlog it is
   * mostly free pages; below this they are kept for the next appends to reuse. Default 8.
   */
  logVacuumFreeMiB?: number;
  /** How long a write waits for another connection's lock, ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Largest serialized `properties` of one event, characters. Default 1 000 000. */
  maxPropertiesChars?: number;
  /** Longest close() spends expanding the log before leaving the rest for the next start, ms. Default 10 000. */
  closeExpandBudgetMs?: number;
  /** Called when background expansion fails (it retries after `expandRetryMs`). Default: ignored. */
  onBackgroundError?: (err: unknown) => void;
  /**
   * Called by close() when `closeExpandBudgetMs` ran out with events still in the ingest log
   * (the next start expands them before reads see them), with their number (-1: not known).
   * Default: ignored.
   */
  onClosedWithBacklog?: (events: number) => void;
  /**
   * Called once when the store finds a file it opened removed or replaced (from then on it
   * refuses ingest), with what it found and did: a removed WAL is copied into its database at
   * once, so a crash before the clean stop it asks for loses nothing acknowledged. Default: ignored.
   */
  onFilesChanged?: (message: string) => void;
  /**
   * Called with what an operator should read in the log (the store logs nothing itself): at
   * start, another live server on this data directory (`homing.pid`), and a backlog an earlier
   * run left in the ingest log (how many events; then progress every 10 s while it drains, and
   * when it is done: reads wait for it). Default: ignored.
   */
  onNotice?: (notice: StoreNotice) => void;
  /**
   * How often the idle expander worker looks for log rows nobody told it about (appended by
   * another process on the same file), ms. Rows this store appends wake it at once. Default 1000.
   */
  expandPollMs?: number;
  /** Wait before retrying a failed background expansion, ms. Default 1000. */
  expandRetryMs?: number;
  /**
   * Nice value (0–19) of the expander worker thread, on Linux. Above 0, acknowledging requests
   * gets the CPU first when it is short and expansion runs on what is left; the backlog stays
   * bounded by `maxPendingEvents`, after which ingest waits for expansion. 0 runs it at the
   * process's priority. Ignored where threads have no priority of their own. Default 10.
   */
  expandNice?: number;
  /**
   * Size of the in-memory filter of stored event keys, MiB (0, or a power of two up to 128).
   * With it, acknowledging checks new keys against `events` in memory instead of one index
   * lookup per key; it is built by the expander worker at start (a scan of `events`, in steps
   * between chunks) and used once complete. At 32 MiB about 1 in 2000 new keys is a false
   * positive with 10 million stored events and 1 in 13 with 50 million; a false positive only
   * costs that key's lookup. 0: always look up. Default 32.
   */
  keyFilterMiB?: number;
  /**
   * How often, at most, ingest reads suppression entries (erasures) another connection on the
   * same file committed, ms; this store's own erasures apply at once. Default 1000.
   */
  suppressionRefreshMs?: number;
  /**
   * Opens the projects table only (`homing projects`, beside a running server): no ingest log
   * and no expander worker, so a backlog the server has in the log stays the server's (expanded
   * by another connection, its rows would switch the server's key filter off) and close()
   * returns at once. Calls on events (insert, read, erase, retention, stats) are refused.
   * Default false.
   */
  projectsOnly?: boolean;
  /**
   * Opens `homing.db` (tests inject failures of the open or of better-sqlite3's native module).
   * Default: better-sqlite3's `new Database(file, options)`.
   */
  openDatabase?: (file: string, options: Database.Options) => Database.Database;
}

export type ResolvedSqliteOptions = Required<
  Omit<
    SqliteStoreOptions,
    'onBackgroundError' | 'onClosedWithBacklog' | 'onFilesChanged' | 'onNotice' | 'openDatabase'
  >
> &
  Pick<SqliteStoreOptions, 'onBackgroundError' | 'onClosedWithBacklog' | 'onFilesChanged' | 'onNotice'>;

export const SQLITE_DEFAULTS = {
  synchronous: 'normal',
  cacheSizeMiB: 256,
  expandChunkEvents: 80_000,
  maxPendingEvents: 1_000_000,
  walAutocheckpointPages: 16_000,
  logVacuumFreeMiB: 8,
  busyTimeoutMs: 5000,
  maxPropertiesChars: 1_000_000,
  closeExpandBudgetMs: 10_000,
  expandRetryMs: 1000,
  expandPollMs: 1000,
  expandNice: 10,
  keyFilterMiB: 32,
  suppressionRefreshMs: 1000,
} as const;

export function resolveSqliteOptions(o: SqliteStoreOptions): ResolvedSqliteOptions {
  if (typeof o?.dataDir !== 'string' || o.dataDir.length === 0) {
    throw new StoreError('invalid-input', 'SqliteStore option dataDir must be a non-empty path');
  }
  const r: ResolvedSqliteOptions = {
    // Absolute from here on: the files are checked by path while open (sqlite-open-files.ts)
    // and reopened by the expander thread, and an app may chdir in between.
    dataDir: resolve(o.dataDir),
    synchronous: o.synchronous ?? SQLITE_DEFAULTS.synchronous,
    cacheSizeMiB: o.cacheSizeMiB ?? SQLITE_DEFAULTS.cacheSizeMiB,
    expandChunkEvents: o.expandChunkEvents ?? SQLITE_DEFAULTS.expandChunkEvents,
    maxPendingEvents: o.maxPendingEvents ?? SQLITE_DEFAULTS.maxPendingEvents,
    walAutocheckpointPages: o.walAutocheckpointPages ?? SQLITE_DEFAULTS.walAutocheckpointPages,
    logVacuumFreeMiB: o.logVacuumFreeMiB ?? SQLITE_DEFAULTS.logVacuumFreeMiB,
    busyTimeoutMs: o.busyTimeoutMs ?? SQLITE_DEFAULTS.busyTimeoutMs,
    maxPropertiesChars: o.maxPropertiesChars ?? SQLITE_DEFAULTS.maxPropertiesChars,
    closeExpandBudgetMs: o.closeExpandBudgetMs ?? SQLITE_DEFAULTS.closeExpandBudgetMs,
    expandRetryMs: o.expandRetryMs ?? SQLITE_DEFAULTS.expandRetryMs,
    expandPollMs: o.expandPollMs ?? SQLITE_DEFAULTS.expandPollMs,
    expandNice: o.expandNice ?? SQLITE_DEFAULTS.expandNice,
    keyFilterMiB: o.keyFilterMiB ?? SQLITE_DEFAULTS.keyFilterMiB,
    suppressionRefreshMs: o.suppressionRefreshMs ?? SQLITE_DEFAULTS.suppressionRefreshMs,
    projectsOnly: o.projectsOnly === true,
    onBackgroundError: o.onBackgroundError,
    onClosedWithBacklog: o.onClosedWithBacklog,
    onFilesChanged: o.onFilesChanged,
    onNotice: o.onNotice,
  };
  if (r.keyFilterMiB > 128 || (r.keyFilterMiB & (r.keyFilterMiB - 1)) !== 0) {
    throw new StoreError(
      'invalid-input',
      'SqliteStore option keyFilterMiB must be 0 or a power of two up to 128',
    );
  }
  if (r.expandNice > 19) {
    throw new StoreError('invalid-input', 'SqliteStore option expandNice must be an integer from 0 to 19');
  }
  if (r.synchronous !== 'normal' && r.synchronous !== 'full') {
    throw new StoreError('invalid-input', `SqliteStore option synchronous must be 'normal' or 'full'`);
  }
  // Delays end at MAX_TIMER_MS: they become timers (and SQLite's busy timeout is a C int).
  const ints: [keyof ResolvedSqliteOptions, number, number?][] = [
    ['cacheSizeMiB', 1],
    ['expandChunkEvents', 1],
    ['maxPendingEvents', 1],
    ['walAutocheckpointPages', 1],
    ['logVacuumFreeMiB', 0, 1_000_000],
    ['busyTimeoutMs', 0, MAX_TIMER_MS],
    ['maxPropertiesChars', 2],
    ['closeExpandBudgetMs', 0, MAX_TIMER_MS],
    ['expandRetryMs', 0, MAX_TIMER_MS],
    ['expandPollMs', 1, MAX_TIMER_MS],
    ['expandNice', 0],
    ['keyFilterMiB', 0],
    ['suppressionRefreshMs', 0, MAX_TIMER_MS],
  ];
  for (const [name, min, max = Number.MAX_SAFE_INTEGER] of ints) {
    const v = r[name];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
      throw new StoreError('invalid-input', `SqliteStore option ${name} must be an integer ${range}`);
    }
  }
  return r;
}

/**
 * `journal_size_limit` of every connection to both files, bytes: the autocheckpoint bound
 * (`walAutocheckpointPages` counts homing.db's 4 KiB pages; the log file's bound is the same
 * size in its own pages). Without it a WAL kept the size of its largest transaction or of the
 * longest stretch a reader held its checkpoint back, forever (124 MB and 69 MB idle after a
 * 2-million-event backlog). SQLite applies it when a WAL starts over, which a writer notices
 * once per start (one fstat), so it costs appends nothing.
 */
export function walSizeLimitBytes(o: { walAutocheckpointPages: number }): number {
  return o.walAutocheckpointPages * 4096;
}
