import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../outbox/file-log/atomicFile.js';
import { makeDirectorySync } from '../outbox/file-log/makeDirectory.js';
import { ownDirectoryCheck } from '../outbox/file-log/ownDirectory.js';
import { PRIVATE_FILE_MODE } from '../outbox/file-log/privateModes.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import type { InstallIdStore } from './installId.js';
import { isInstallId } from './installId.js';

export const INSTALL_ID_FILE = 'install-id';

/**
 * The install id in `<directory>/install-id`, created with O_EXCL through a temporary file and
 * a hard link, so the file never exists half-written: of two processes starting at once, one
 * creates it and the other reads that one. A damaged file is replaced. Only its owner can read it
 * (`PRIVATE_FILE_MODE`): it is in every event of this install.
 *
 * Synchronous on purpose: it runs once, inside `createTelemetry` (never inside `track`), and a
 * 37-byte read there means events tracked right after start need not wait in memory for it.
 * `initial` is the id a new file gets (an id kept elsewhere before); else the id the caller `made`;
 * default a new UUIDv7.
 *
 * In a directory another account made or can write in, nothing is read or written: it throws
 * (`UnsafeDirectoryError`), and the client uses an id of the run's own, stored here once the
 * directory is fixed. An id planted there would have put the user's events under one chosen by
 * someone else; `initial`, read from that directory's state, is dropped too.
 */
export function installIdFile(directory: string, initial?: string): InstallIdStore {
  const file = path.join(directory, INSTALL_ID_FILE);
  const unsafe = ownDirectoryCheck(directory);
  if (unsafe() !== undefined) initial = undefined;
  const replace = (id: string | undefined): void => {
    const refused = unsafe();
    if (refused !== undefined) throw refused;
    if (id === undefined) return rmSync(file, { force: true });
    makeDirectorySync(directory);
    // Whole or not at all, as the first one is: a reader never sees it half-written.
    writeFileAtomicSync(file, `${id}\n`, { fsync: false });
  };
  const store = (_syncOnly?: boolean, made?: string): string => {
    const refused = unsafe();
    if (refused !== undefined) throw refused;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const existing = readId(file);
      if (existing !== undefined) return existing;
      makeDirectorySync(directory);
      const tmp = `${file}.${process.pid}.${uuidv7()}.tmp`;
      writeFileSync(tmp, `${[initial, made].find(isInstallId) ?? uuidv7()}\n`, {
        flag: 'wx',
        mode: PRIVATE_FILE_MODE,
      });
      try {
        linkSync(tmp, file);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
          // A file system without hard links: exclusive create of the file itself.
          try {
            writeFileSync(file, readFileSync(tmp, 'utf8'), { flag: 'wx', mode: PRIVATE_FILE_MODE });
          } catch (inner) {
            if ((inner as NodeJS.ErrnoException).code !== 'EEXIST') throw inner;
          }
        } else if (code !== 'EEXIST') {
          throw error;
        } else if (attempt > 0 && readId(file) === undefined) {
          // Someone else's file, still damaged on a second look: replace it.
          replaceDamaged(file, tmp);
        }
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    const id = readId(file);
    if (id === undefined) throw new Error(`could not create ${file}`);
    return id;
  };
  return Object.assign(store, { replace });
}

const ATTEMPTS = 6;
/** A repair lock older than this was left by a process that died in it. */
const STALE_REPAIR_MS = 2_000;
const REPAIR_WAIT_MS = 5;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Puts `tmp` in place of the damaged `file`, under `<file>.repair` (created exclusively): a
 * process that found the file damaged, then removed or replaced it after another had already
 * put a good id there, would leave two processes with different ids. Whoever holds the lock
 * looks again before replacing, by rename (atomic); the others wait a moment and read what it
 * wrote.
 */
function replaceDamaged(file: string, tmp: string): void {
  const lock = `${file}.repair`;
  try {
    writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: PRIVATE_FILE_MODE });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const made = lockTime(lock);
    // Gone already: its holder is done, and the next look reads what it wrote.
    if (made !== undefined && Date.now() - made > STALE_REPAIR_MS) rmSync(lock, { force: true });
    else if (made !== undefined) Atomics.wait(sleeper, 0, 0, REPAIR_WAIT_MS);
    return;
  }
  try {
    if (readId(file) === undefined) renameSync(tmp, file);
  } finally {
    rmSync(lock, { force: true });
  }
}

/** When the lock was made; undefined when it is gone. */
function lockTime(lock: string): number | undefined {
  try {
    return statSync(lock).mtimeMs;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function readId(file: string): string | undefined {
  try {
    const text = readFileSync(file, 'utf8').trim();
    return isInstallId(text) ? text : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
