/**
 * Who may read the SQLite store's files. homing.db holds every project's write and admin keys
 * (an admin key exports and erases personal data) and the events themselves, so what Homing
 * creates is its user's alone: the data directory 0700, the database files 0600 (SQLite gives
 * their -wal and -shm files the main file's mode). What already exists is left as it is, since
 * changing a user's own choice of modes behind their back is not Homing's to do, but a server
 * that finds it open to other users says so at start (`dataDirExposure`).
 *
 * Windows has no such modes (Node ignores the mode arguments there); nothing is checked.
 */
import { closeSync, openSync, statSync } from 'node:fs';
import path from 'node:path';

/** Mode of a data directory Homing creates (its parents get the usual mode, as `mkdir -p`'s). */
export const DATA_DIR_MODE = 0o700;
/** Mode of a database file Homing creates. */
export const DATABASE_FILE_MODE = 0o600;

/**
 * Creates `file` empty with DATABASE_FILE_MODE if it does not exist, so SQLite (which takes an
 * empty file as an empty database) does not create it with the umask's mode, usually world
 * readable. An existing file (or anything else at that path) is left to SQLite to open or refuse.
 */
export function createDatabaseFile(file: string): void {
  try {
    closeSync(openSync(file, 'wx', DATABASE_FILE_MODE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** The data directory and its database files are open to other local users. */
export interface DataDirExposure {
  dataDir: string;
  /** The directory's permission bits, octal (`755`). */
  mode: string;
  /** Database files other users can read through it. */
  readableFiles: string[];
  /**
   * The directory and database files another account owns (not this server's user): it can
   * read and change them whatever their modes. SQLite keeps an existing file's owner, and gives
   * its -wal and -shm files the main file's.
   */
  ownedByOthers: string[];
  /** What to run about it. */
  fix: string;
  message: string;
}

/** Files of the store a directory open to others exposes (the -wal holds recent writes). */
const DATABASE_FILES = ['homing.db', 'ingest-log.db'].flatMap((f) => [f, `${f}-wal`, `${f}-shm`]);

/**
 * Whether `dataDir` lets other local users in: group or others have any permission on it.
 * Files are listed when the directory lets others reach them (search permission) and they
 * are readable by group or others. Null when private, missing, or on Windows.
 */
export function dataDirExposure(
  dataDir: string,
  platform: NodeJS.Platform = process.platform,
  uid: number | undefined = process.geteuid?.(),
): DataDirExposure | null {
  if (platform === 'win32') return null;
  const dir = path.resolve(dataDir);
  const dirStat = statOf(dir);
  if (dirStat === null) return null;
  const dirMode = dirStat.mode;
  const files = DATABASE_FILES.map((f) => path.join(dir, f));
  const ownedByOthers =
    uid === undefined
      ? []
      : [dir, ...files].filter((f) => {
          const owner = f === dir ? dirStat.uid : statOf(f)?.uid;
          return owner !== undefined && owner !== uid;
        });
  const open = (dirMode & 0o077) !== 0;
  if (!open && ownedByOthers.length === 0) return null;
  const readableFiles =
    (dirMode & 0o011) === 0 ? [] : files.filter((f) => ((statOf(f)?.mode ?? 0) & 0o044) !== 0);
  const fix = [
    ...(ownedByOthers.length > 0 ? [`chown ${uid} ${ownedByOthers.map(shellQuoted).join(' ')}`] : []),
    ...(open ? [`chmod 700 ${shellQuoted(dir)}`] : []),
    ...(readableFiles.length > 0 ? [`chmod 600 ${readableFiles.map(shellQuoted).join(' ')}`] : []),
  ].join(' && ');
  const mode = (dirMode & 0o777).toString(8).padStart(3, '0');
  const exposures = [
    ...(open
      ? [
          `is open to other users of this machine (mode ${mode})` +
            (readableFiles.length > 0
              ? ` and they can read ${readableFiles.map((f) => path.basename(f)).join(', ')}`
              : ''),
        ]
      : []),
    ...(ownedByOthers.length > 0
      ? [
          `holds what another account owns, which can read and change it whatever the modes: ` +
            ownedByOthers.map((f) => (f === dir ? 'the directory itself' : path.basename(f))).join(', '),
        ]
      : []),
  ];
  return {
    dataDir: dir,
    mode,
    readableFiles,
    ownedByOthers,
    fix,
    message:
      `the data directory ${dir} ${exposures.join('; it also ')}` +
      `; homing.db holds every project's write and admin keys (an admin key exports and erases ` +
      `personal data): run ${fix}`,
  };
}

function statOf(file: string): { mode: number; uid: number } | null {
  try {
    const st = statSync(file);
    return { mode: st.mode, uid: st.uid };
  } catch {
    return null;
  }
}

function shellQuoted(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
