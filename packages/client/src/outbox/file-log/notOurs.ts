import { constants, promises as fs, lstatSync, renameSync, type Stats } from 'node:fs';

/**
 * Open flags for a file the outbox keeps, so that only a file of its own is opened: a symlink is
 * not followed (ELOOP: its target lies outside the outbox, and writing or cutting through it
 * damaged a file elsewhere) and a FIFO does not block the open (it held a pool thread, and the
 * process, for good). Windows has neither flag, nor FIFOs in a directory.
 */
export const OWN_FILE_ONLY = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * The name something that is not ours is moved aside to, where one of our files belongs (a
 * directory, a symlink, a FIFO): never deleted, since it is not ours.
 */
export function inTheWayName(file: string): string {
  return `${file}.${Date.now()}.in-the-way`;
}

/**
 * Something other than a regular file where one of the outbox's own files belongs (a FIFO, a
 * socket, a device, a symbolic link, a directory): never read, never written through.
 */
export class NotOurFileError extends Error {
  readonly kind = 'not-our-file' as const;
  constructor(
    readonly file: string,
    /** What is there instead: 'a FIFO', 'a socket', ... */
    readonly what: string,
  ) {
    super(`${file} is ${what}, not a file of the outbox: never opened`);
    this.name = 'NotOurFileError';
  }
}

/** What a directory entry that is not a regular file is, in words ('a FIFO'). */
export function whatItIs(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * Moves what is at `file` aside (`inTheWayName`) when it is there and is not a regular file;
 * answers what it moved ('a FIFO'), or undefined when there was nothing to move (gone, a file, or
 * moved aside by another process at the same moment).
 */
export async function moveAsideIfNotAFile(file: string): Promise<string | undefined> {
  const st = await fs.lstat(file).catch(() => null);
  if (st === null || st.isFile()) return undefined;
  try {
    await fs.rename(file, inTheWayName(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return whatItIs(st);
}

/** `moveAsideIfNotAFile`, synchronously, for a process that ends in this turn. */
export function moveAsideIfNotAFileSync(file: string): string | undefined {
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch {
    return undefined;
  }
  if (st.isFile()) return undefined;
  try {
    renameSync(file, inTheWayName(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return whatItIs(st);
}
