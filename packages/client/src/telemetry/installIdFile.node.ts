import { createHash } from 'node:crypto';
import {
  closeSync,
  fstatSync,
  linkSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../outbox/file-log/atomicFile.js';
import { makeDirectorySync } from '../outbox/file-log/makeDirectory.js';
import { ownDirectoryCheck } from '../outbox/file-log/ownDirectory.js';
import { PRIVATE_FILE_MODE } from '../outbox/file-log/privateModes.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import type { InstallIdStore } from './installId.js';
import { isInstallId } from './installId.js';
import { KEPT_FILE_READ_FLAGS, keptFileText } from './keptFileText.node.js';

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
    // Taken over once: an id replaced or removed (a reset, a denial) must not come back from it.
    initial = undefined;
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
        let taken = false;
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
          // A file system without hard links: exclusive create of the file itself.
          try {
            writeFileSync(file, readFileSync(tmp, 'utf8'), { flag: 'wx', mode: PRIVATE_FILE_MODE });
          } catch (inner) {
            if ((inner as NodeJS.ErrnoException).code !== 'EEXIST') throw inner;
            taken = true;
          }
        } else if (code !== 'EEXIST') {
          throw error;
        } else {
          taken = true;
        }
        // Someone else's file, still damaged on a second look: replace it.
        if (taken && attempt > 0) replaceDamaged(file);
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    const id = readId(file);
    // Coded as transient: a repair another process is in the middle of (a file being written, a
    // rename Windows refused) is done by the time the caller tries again.
    if (id === undefined) throw Object.assign(new Error(`could not create ${file}`), { code: 'EAGAIN' });
    return id;
  };
  return Object.assign(store, { replace });
}

const ATTEMPTS = 5;
/** An empty file younger than this may be one another process is writing (no hard links). */
const FRESH_EMPTY_MS = 2_000;

/**
 * Replaces `file` when what it holds is damaged, by rename (atomic), with an id derived from the
 * damaged file itself: every process that found that same file damaged writes the same id, so
 * however their repairs interleave (one replacing the file another had just repaired, after
 * that one returned its id), they all end with one id. With a new random id each, two processes
 * could keep different ones. The file is read and described through one descriptor, and replaced
 * only if it is still that file just before the rename: a good id put there meanwhile (a reset(),
 * a first id after a removal) stays.
 */
function replaceDamaged(file: string): void {
  const damaged = damagedFile(file);
  if (damaged === undefined) return;
  const tmp = `${file}.${process.pid}.${uuidv7()}.tmp`;
  try {
    writeFileSync(tmp, `${damaged.id}\n`, { flag: 'wx', mode: PRIVATE_FILE_MODE });
    // The entry itself, as `damagedFile` judged it: a symbolic link is replaced, never followed.
    const now = lstatSync(file, { bigint: true, throwIfNoEntry: false });
    if (now === undefined || now.dev !== damaged.dev || now.ino !== damaged.ino) return;
    renameSync(tmp, file);
  } catch (error) {
    // Windows refuses to rename over a file another process has open (another repairer reading
    // it): the next attempt reads what is there, the same id if one of them got through.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'EACCES' && code !== 'EBUSY') throw error;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * The damaged `file` and the id that replaces it (undefined when it is not damaged, gone, or an
 * empty file just made, which a process on a file system without hard links may be writing):
 * a UUIDv7 whose time is the file's modification time and whose other bits hash what identifies
 * that file (inode, size, modification time in nanoseconds, content). None of these changes when
 * the file is replaced or unlinked, nor depends on who looks (host, path spelling, mount).
 */
function damagedFile(file: string): { id: string; dev: bigint; ino: bigint } | undefined {
  let fd: number;
  try {
    fd = openSync(file, KEPT_FILE_READ_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    // A symbolic link: damaged, judged by the link itself (its target is nobody's id).
    if (code === 'ELOOP') return damagedLink(file);
    throw error;
  }
  try {
    // Described before it is read: a size that differs from what was read is a file another
    // process is writing in place (no hard links), not a damaged one. No regular file (a FIFO)
    // is damaged, and never read.
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) return damagedId(st, Buffer.alloc(0));
    const text = readFileSync(fd);
    if (BigInt(text.length) !== st.size) return undefined;
    if (isInstallId(text.toString('utf8').trim())) return undefined;
    const ageMs = Date.now() - Number(st.mtimeMs);
    if (st.size === 0n && ageMs >= 0 && ageMs < FRESH_EMPTY_MS) return undefined;
    return damagedId(st, text);
  } finally {
    closeSync(fd);
  }
}

/** `damagedFile` for a symbolic link: its own description and where it points. */
function damagedLink(file: string): { id: string; dev: bigint; ino: bigint } | undefined {
  const st = lstatSync(file, { bigint: true, throwIfNoEntry: false });
  if (st === undefined || !st.isSymbolicLink()) return undefined;
  return damagedId(st, Buffer.from(readlinkSync(file)));
}

function damagedId(
  st: { ino: bigint; size: bigint; mtimeNs: bigint; mtimeMs: bigint; dev: bigint },
  content: Uint8Array,
): { id: string; dev: bigint; ino: bigint } {
  // Not the device: hosts mounting one share number it differently.
  const digest = createHash('sha256')
    .update([st.ino, st.size, st.mtimeNs].join(':'))
    .update(content)
    .digest();
  return { id: uuidv7From(Number(st.mtimeMs), digest), dev: st.dev, ino: st.ino };
}

/** RFC 9562 UUIDv7 layout: 48-bit ms time, version 7, variant 10, the rest from `bits`. */
function uuidv7From(ms: number, bits: Uint8Array): string {
  const b = Buffer.alloc(16);
  b.writeUIntBE(Math.max(0, Math.min(Math.floor(ms), 2 ** 48 - 1)), 0, 6);
  for (let i = 6; i < 16; i++) b[i] = bits[i]!;
  b[6] = (b[6]! & 0x0f) | 0x70;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The id in `file`; undefined when there is none, or what is there is damaged (a symlink too). */
function readId(file: string): string | undefined {
  const text = keptFileText(file)?.trim();
  return isInstallId(text) ? text : undefined;
}
