import { closeSync, constants, fstatSync, openSync, promises as fs, readFileSync } from 'node:fs';
import { NotOurFileError, OWN_FILE_ONLY, whatItIs } from './notOurs.js';

const READ_FLAGS = constants.O_RDONLY | OWN_FILE_ONLY;

/**
 * The text of one of the outbox's own small files (the cursor, a state file, `outbox.json`, a
 * lock), or undefined when it is not there. Opened only as a file of its own (`OWN_FILE_ONLY`)
 * and read only when it is a regular file: a FIFO put at `cursor.json`, `outbox.json`, a state
 * file or `delivery.lock` blocked its read for good (a pool thread, or the main thread for the
 * synchronous reads), and with it persist, delivery, the exit and `homing status`. Anything else
 * there rejects with `NotOurFileError`; other failures (EACCES, EIO) as the file system's own.
 */
export async function ownFileText(file: string): Promise<string | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, READ_FLAGS);
  } catch (error) {
    const refused = refusedOpen(file, error);
    if (refused === null) return undefined;
    throw refused;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new NotOurFileError(file, whatItIs(st));
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** `ownFileText`, synchronously: for the exit path and what must be known before the first event. */
export function ownFileTextSync(file: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, READ_FLAGS);
  } catch (error) {
    const refused = refusedOpen(file, error);
    if (refused === null) return undefined;
    throw refused;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotOurFileError(file, whatItIs(st));
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** The error an open of `file` is answered with; null when nothing is there. */
function refusedOpen(file: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return null;
  if (code === 'ELOOP') return new NotOurFileError(file, 'a symbolic link');
  // What opening a Unix socket answers.
  if (code === 'ENXIO') return new NotOurFileError(file, 'a socket');
  return error;
}
