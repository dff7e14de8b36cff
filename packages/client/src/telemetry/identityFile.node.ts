import { rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../outbox/file-log/atomicFile.js';
import { makeDirectorySync } from '../outbox/file-log/makeDirectory.js';
import { ownDirectoryCheck } from '../outbox/file-log/ownDirectory.js';
import { consentFile } from './consentFile.node.js';
import { type IdentityStore, isKeptIdentity } from './identityStore.js';
import { keptFileText } from './keptFileText.node.js';

export const IDENTITY_FILE = 'identity';

/**
 * The identity in `<directory>/identity`, beside the install id: read synchronously once at
 * start (so the first events of a run are already about the user, as with the install id),
 * written through a temporary file and a rename, so it is never seen half-written. Processes
 * sharing the directory: the last `identify()` wins.
 *
 * Written synchronously, in the caller's turn (a few small syscalls; `identify()` and `reset()`
 * are rare). Written asynchronously, a `reset()` followed by `process.exit()` was lost now and
 * then: the write finished at exit removed the file, and then a rename of the earlier
 * `identify()` still in the thread pool put the old id back (and its temporary file, holding
 * the id, was left behind). Nothing asynchronous means nothing can land after the last write,
 * and nothing is left to finish at exit.
 */
export function identityFile(directory: string): IdentityStore {
  const file = path.join(directory, IDENTITY_FILE);
  // A directory another account made or can write in: no identity planted there is read, and
  // none of the user's is written there (kept once the directory is fixed, as when unwritable).
  const unsafe = ownDirectoryCheck(directory);
  const read = (): string | undefined => {
    if (unsafe() !== undefined) return undefined;
    try {
      // A symlink or a FIFO reads as none (`keptFileText`); the next identify() replaces it.
      const kept = keptFileText(file)?.replace(/\n$/, '');
      return isKeptIdentity(kept) ? kept : undefined;
    } catch {
      return undefined;
    }
  };
  return {
    read,
    write(id) {
      try {
        const refused = unsafe();
        if (refused !== undefined) throw refused;
        if (id === undefined) {
          rmSync(file, { force: true });
        } else if (read() !== id) {
          // Compared with the file, not with this process's last write: another process sharing
          // the directory may have written since, and the last identify() wins. A read is a
          // third of the system calls of a write, which an app calling identify() on every
          // request (with the same user) paid each time.
          writeIdentity(directory, file, id);
        }
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    },
    // The file outbox keeps its state in the same directory (`state/`). Strict: a consent that
    // is there but cannot be read throws, so no id is written on the strength of a denial unread.
    rememberedConsentNow: () => consentFile(directory).readNow(),
  };
}

/** The directory is made only when the write finds it missing (it is there but once). */
function writeIdentity(directory: string, file: string, id: string): void {
  try {
    writeFileAtomicSync(file, `${id}\n`, { fsync: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    makeDirectorySync(directory);
    writeFileAtomicSync(file, `${id}\n`, { fsync: false });
  }
}
