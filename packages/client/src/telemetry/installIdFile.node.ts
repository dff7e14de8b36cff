import { promises as fs } from 'node:fs';
import path from 'node:path';
import { uuidv7 } from '../pipeline/uuidv7.js';
import type { InstallIdStore } from './installId.js';
import { isInstallId } from './installId.js';

export const INSTALL_ID_FILE = 'install-id';

/**
 * The install id in `<directory>/install-id`, created with O_EXCL (`wx`) through a temporary
 * file and a hard link, so the file never exists half-written: of two processes starting at
 * once, one creates it and the other reads that one. A damaged file is replaced.
 */
export function installIdFile(directory: string): InstallIdStore {
  const file = path.join(directory, INSTALL_ID_FILE);
  return async () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await readId(file);
      if (existing !== undefined) return existing;
      await fs.mkdir(directory, { recursive: true });
      const tmp = `${file}.${process.pid}.${uuidv7()}.tmp`;
      await fs.writeFile(tmp, `${uuidv7()}\n`, { flag: 'wx' });
      try {
        await fs.link(tmp, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        // Someone else won; a damaged file of theirs (or ours from a crash) is moved aside once.
        if ((await readId(file)) === undefined && attempt > 0) await fs.rm(file, { force: true });
      } finally {
        await fs.rm(tmp, { force: true });
      }
    }
    const id = await readId(file);
    if (id === undefined) throw new Error(`could not create ${file}`);
    return id;
  };
}

async function readId(file: string): Promise<string | undefined> {
  try {
    const text = (await fs.readFile(file, 'utf8')).trim();
    return isInstallId(text) ? text : undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
