import { readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeDirectory } from '../outbox/file-log/makeDirectory.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import { type IdentityStore, isKeptIdentity } from './identityStore.js';

export const IDENTITY_FILE = 'identity';

/**
 * The identity in `<directory>/identity`, beside the install id: read synchronously once at
 * start (so the first events of a run are already about the user, as with the install id),
 * written off the caller's turn through a temporary file and a rename, so it is never seen
 * half-written. Processes sharing the directory: the last `identify()` wins.
 */
export function identityFile(directory: string): IdentityStore {
  const file = path.join(directory, IDENTITY_FILE);
  let writes: Promise<void> = Promise.resolve();
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
      // One after another, so the last identify() is the one left on disk.
      const run = writes.then(async () => {
        if (id === undefined) {
          await rm(file, { force: true });
          return;
        }
        await makeDirectory(directory);
        const tmp = `${file}.${process.pid}.${uuidv7()}.tmp`;
        try {
          await writeFile(tmp, `${id}\n`, { flag: 'wx' });
          await rename(tmp, file);
        } finally {
          await rm(tmp, { force: true });
        }
      });
      writes = run.catch(() => {});
      return run;
    },
  };
}
