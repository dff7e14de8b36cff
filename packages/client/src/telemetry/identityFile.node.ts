import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDirectory, makeDirectorySync } from '../outbox/file-log/makeDirectory.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import { type IdentityStore, isKeptIdentity } from './identityStore.js';

export const IDENTITY_FILE = 'identity';

/**
 * The identity in `<directory>/identity`, beside the install id: read synchronously once at
 * start (so the first events of a run are already about the user, as with the install id),
 * written off the caller's turn through a temporary file and a rename, so it is never seen
 * half-written. Processes sharing the directory: the last `identify()` wins.
 *
 * A write not done when the process ends (`process.exit()` or an uncaught exception in the
 * turn of the `identify()` or `reset()`) is finished synchronously by `finishNow`, called from
 * the client's exit hook: else a `reset()` at logout was lost and the next run was still the
 * user who logged out.
 */
export function identityFile(directory: string): IdentityStore {
  const file = path.join(directory, IDENTITY_FILE);
  let writes: Promise<void> = Promise.resolve();
  /** The last write asked for, until it is on disk (a new object per call: compared by identity). */
  let unwritten: { readonly id: string | undefined } | undefined;
  return {
    read() {
      try {
        const kept = readFileSync(file, 'utf8').replace(/\n$/, '');
        return isKeptIdentity(kept) ? kept : undefined;
      } catch {
        return undefined;
      }
    },
    write(id) {
      const request = { id };
      unwritten = request;
      // One after another, so the last identify() is the one left on disk.
      const run = writes.then(async () => {
        if (id === undefined) {
          await rm(file, { force: true });
        } else {
          await makeDirectory(directory);
          const tmp = temporaryName(file);
          try {
            await writeFile(tmp, `${id}\n`, { flag: 'wx' });
            await rename(tmp, file);
          } finally {
            await rm(tmp, { force: true });
          }
        }
        if (unwritten === request) unwritten = undefined;
      });
      writes = run.catch(() => {});
      return run;
    },
    finishNow() {
      const request = unwritten;
      if (request === undefined) return;
      unwritten = undefined;
      // An asynchronous write of an earlier id still in the thread pool could in theory land
      // after this one; writes are chained, so at most one is, and the window is one syscall.
      if (request.id === undefined) {
        rmSync(file, { force: true });
        return;
      }
      makeDirectorySync(directory);
      const tmp = temporaryName(file);
      try {
        writeFileSync(tmp, `${request.id}\n`, { flag: 'wx' });
        renameSync(tmp, file);
      } finally {
        rmSync(tmp, { force: true });
      }
    },
  };
}

function temporaryName(file: string): string {
  return `${file}.${process.pid}.${uuidv7()}.tmp`;
}
