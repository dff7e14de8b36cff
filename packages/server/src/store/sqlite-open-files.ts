import { statSync } from 'node:fs';
import { StoreError } from './errors.js';

/** How often, at most, a group commit looks whether the files are still there, ms. */
export const OPEN_FILES_CHECK_MS = 1000;

interface Opened {
  path: string;
  dev: bigint;
  ino: bigint;
  /** The database whose WAL this is, for a WAL file. */
  walOf?: string;
}

/**
 * Whether the database files the store opened are still the ones at their paths. A connection
 * keeps writing to a file after it was unlinked (its data directory removed, or replaced by a
 * restore), and SQLite reports no error: every commit succeeds into files nobody can open
 * again, and the next start finds nothing. Compared by (device, inode) taken right after each
 * open; once they differ the store is failed for good (its files are no longer what a restart
 * would open), so readiness and ingest answer 503 instead of acknowledging events that are lost.
 *
 * The WAL files are watched as well: every commit lives in `<db>-wal` until a checkpoint copies
 * it into the database, so a removed WAL takes acknowledged events with it at the next crash
 * (the audit found 15 of 18 gone after a kill -9). SQLite removes a WAL itself only when the
 * last connection to the database closes (the store's own stay open until close(); another
 * process's closing one does not count as last), a checkpoint truncates it in place, and
 * VACUUM keeps it: a WAL that is not the file opened is never SQLite's own doing. Until the
 * process ends its connections still hold the removed WAL: `onFailed` is told which databases
 * (still the files opened) lost theirs, so the store copies what they hold in at once.
 *
 * Cost: one `stat` per file, at most once per `intervalMs` on the commit path.
 */
export class OpenFiles {
  private readonly files: Opened[] = [];
  private nextCheckMs = 0;
  private failure: StoreError | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly intervalMs = OPEN_FILES_CHECK_MS,
    private readonly now: () => number = Date.now,
    /**
     * Called once, when the failure is found, with the databases whose WAL was removed or
     * replaced while the database file itself is still the one opened.
     */
    private readonly onFailed: (failure: StoreError, walsLostBy: readonly string[]) => void = () => {},
  ) {}

  /** Records the file just opened at `path` (a file that cannot be stat'ed is not watched). */
  add(path: string): void {
    try {
      const st = statOf(path);
      if (st !== null) this.files.push({ path, dev: st.dev, ino: st.ino });
    } catch {
      // Unwatched: the store works as before this check existed.
    }
  }

  /**
   * Records `<database>-wal`, once the database is open in WAL mode and has been read or written
   * (SQLite makes the file then; before, there is nothing to watch).
   */
  addWal(database: string): void {
    const before = this.files.length;
    this.add(`${database}-wal`);
    if (this.files.length > before) this.files[before]!.walOf = database;
  }

  /** The failure found so far, if any (no look at the files). */
  get failed(): StoreError | null {
    return this.failure;
  }

  /**
   * Looks at the files (at most once per interval unless `now` is true) and answers the
   * failure, or null while every file is the one opened.
   */
  check(now = false): StoreError | null {
    if (this.failure !== null) return this.failure;
    const t = this.now();
    if (!now && t < this.nextCheckMs) return null;
    this.nextCheckMs = t + this.intervalMs;
    const changed: { f: Opened; how: 'removed' | 'replaced by another file' }[] = [];
    for (const f of this.files) {
      const how = changeOf(f);
      if (how !== null) changed.push({ f, how });
    }
    const first = changed[0];
    if (first === undefined) return null;
    const { f, how } = first;
    const what = `${f.path} was ${how} while the store had it open`;
    this.failure = new StoreError(
      'data-dir',
      f.walOf === undefined
        ? `${what} (the data directory ${this.dataDir} removed or replaced?): events written now would be lost, so ` +
            'none are accepted. Put the data directory back (or restore it from a backup) and restart homing serve'
        : // The removed WAL is still open: a clean close checkpoints it into the database, which a
          // kill does not.
          `${what}: it holds the events committed since the last checkpoint, and events written now ` +
            `would be lost at the next crash, so none are accepted. Stop homing serve cleanly (SIGTERM or ` +
            `Ctrl-C, not kill -9): closing copies what the removed file holds into ${f.walOf}. Then start it ` +
            'again',
    );
    // A database file removed too has nothing left to save its WAL into.
    const walsLostBy = changed.flatMap(({ f: w }) =>
      w.walOf !== undefined && !changed.some(({ f: c }) => c.path === w.walOf) ? [w.walOf] : [],
    );
    this.onFailed(this.failure, walsLostBy);
    return this.failure;
  }
}

/**
 * How `f` is no longer the file at its path, or null while it is (or when that cannot be told
 * just now: EACCES on a parent, an interrupted call, which prove nothing).
 */
function changeOf(f: Opened): 'removed' | 'replaced by another file' | null {
  let st: { dev: bigint; ino: bigint } | null;
  try {
    st = statOf(f.path);
  } catch {
    return null;
  }
  if (st === null) return 'removed';
  return st.dev === f.dev && st.ino === f.ino ? null : 'replaced by another file';
}

/** (device, inode) of `path`, or null when nothing is there; other failures throw. */
function statOf(path: string): { dev: bigint; ino: bigint } | null {
  try {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    return st === undefined ? null : { dev: st.dev, ino: st.ino };
  } catch (err) {
    // The directory replaced by a file.
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw err;
  }
}
