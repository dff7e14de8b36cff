import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomicFile.js';
import { makeDirectory } from './makeDirectory.js';
import { inTheWayName } from './notOurs.js';
import { STATE_DIR } from './segmentFiles.js';

/**
 * `getState`/`setState` of the file outbox: one small JSON file per key under `state/`, each
 * replaced atomically, so two processes setting different keys never undo each other (a
 * single shared file would need read-modify-write across processes).
 *
 * Keys that are safe lower-case file names are used as is; others are hashed. The file holds
 * the key too, so a hash collision is detected instead of answering another key's value.
 */
export class StateFiles {
  constructor(
    private readonly directory: string,
    private readonly options: { fsync: boolean },
  ) {}

  async get(key: string): Promise<unknown> {
    return valueIn(await readFileIfExists(stateFile(this.directory, key)), key);
  }

  /** Stores the JSON text `json` for `key`; undefined removes the key. */
  async set(key: string, json: string | undefined): Promise<void> {
    const file = stateFile(this.directory, key);
    if (json === undefined) {
      await fs.rm(file, { force: true });
      return;
    }
    await makeDirectory(this.directory);
    await writeFileAtomic(file, `{"key":${JSON.stringify(key)},"value":${json}}`, this.options);
  }
}

/**
 * Makes way for `state/` in the outbox `directory`: anything else there (a file, a symlink, a
 * FIFO) is moved aside to `state.<time>.in-the-way`, never deleted (it is not ours). A file there
 * failed every claim (ENOTDIR listing the clear requests) and every state read and write, so
 * nothing was ever sent; a symlink would have had the state written wherever it points.
 */
export async function moveAsideWhatIsInStatesPlace(directory: string): Promise<void> {
  const file = path.join(directory, STATE_DIR);
  const st = await fs.lstat(file).catch(() => null);
  if (st === null || st.isDirectory()) return;
  await fs.rename(file, inTheWayName(file)).catch((error: unknown) => {
    // Moved aside by another process opening the outbox at the same time.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  });
}

/**
 * `StateFiles.get`, synchronously, for what must be known before the first event is built (an
 * install id kept in an older version's state); undefined when unset or unreadable.
 */
export function readStateSync(directory: string, key: string): unknown {
  try {
    return valueIn(readFileSync(stateFile(directory, key), 'utf8'), key);
  } catch {
    return undefined;
  }
}

function stateFile(directory: string, key: string): string {
  const plain = /^[a-z0-9_][a-z0-9_.-]{0,63}$/.test(key);
  const name = plain ? `k-${key}` : `h-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
  return path.join(directory, `${name}.json`);
}

function valueIn(text: string | undefined, key: string): unknown {
  if (text === undefined) return undefined;
  try {
    const parsed = JSON.parse(text) as { key?: unknown; value?: unknown };
    return parsed.key === key ? parsed.value : undefined;
  } catch {
    return undefined;
  }
}
