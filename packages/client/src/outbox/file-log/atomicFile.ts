import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, promises as fs, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PRIVATE_FILE_MODE } from './privateModes.js';

/**
 * Small files that must never be seen half-written (the cursor, state, the dead-letter store):
 * written to a temporary name beside the target, then renamed over it. A reader sees the old
 * file or the new one, never a mix; a crash leaves at worst a stray temporary file. The new file
 * is the owner's alone (`PRIVATE_FILE_MODE`), whatever mode the one it replaces had.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { fsync: boolean },
): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const handle = await fs.open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await handle.writeFile(data);
      if (options.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
    if (options.fsync) await fsyncDirectory(path.dirname(file));
  } catch (error) {
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw error;
  }
}

/** `writeFileAtomic`, synchronously: for a process that ends in this turn. */
export function writeFileAtomicSync(
  file: string,
  data: string | Uint8Array,
  options: { fsync: boolean },
): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      writeFileSync(fd, data);
      if (options.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    if (options.fsync) fsyncDirectorySync(path.dirname(file));
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** `fsyncDirectory`, synchronously (best effort). */
function fsyncDirectorySync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // See fsyncDirectory.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Makes a rename or a new file in `dir` survive power loss (best effort: not every OS can). */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open a directory for fsync; the rename is still atomic there.
  } finally {
    await handle?.close().catch(() => {});
  }
}

/** Removes temporary files a crashed writer left behind (older than `olderThanMs`). */
export async function removeStaleTempFiles(dir: string, olderThanMs: number, nowMs: number): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.endsWith('.tmp')) continue;
    const file = path.join(dir, name);
    try {
      const st = await fs.stat(file);
      if (nowMs - st.mtimeMs > olderThanMs) await fs.rm(file, { force: true });
    } catch {
      // Someone else removed or renamed it first.
    }
  }
}
