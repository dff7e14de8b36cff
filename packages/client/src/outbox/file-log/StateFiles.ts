import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic, writeFileAtomicSync } from './atomicFile.js';
import { makeDirectory, makeDirectorySync } from './makeDirectory.js';
import { inTheWayName, moveAsideIfNotAFile, NotOurFileError, whatItIs } from './notOurs.js';
import { ownFileText, ownFileTextSync } from './ownFileText.js';
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
    private readonly options: {
      fsync: boolean;
      /**
       * Given by the outbox (not by a tool that only looks): something not ours named like a
       * state file (a FIFO, a socket, a link) is moved aside when read, and this is told.
       */
      onMovedAside?: (file: string, what: string) => void;
    },
  ) {}

  /**
   * The value of `key`, undefined when unset. Read as a file of its own only (`ownFileText`): a
   * FIFO named like a state file (the breaker's) blocked its read, and the delivery, for good.
   * Anything not ours there reads as unset.
   */
  async get(key: string): Promise<unknown> {
    const file = stateFile(this.directory, key);
    let text: string | undefined;
    try {
      text = await ownFileText(file);
    } catch (error) {
      if (!(error instanceof NotOurFileError)) throw error;
      const told = this.options.onMovedAside;
      if (told !== undefined) {
        const moved = await moveAsideIfNotAFile(file);
        if (moved !== undefined) told(file, moved);
      }
      return undefined;
    }
    return valueIn(text, key);
  }

  /** Stores the JSON text `json` for `key`; undefined removes the key. */
  async set(key: string, json: string | undefined): Promise<void> {
    const file = stateFile(this.directory, key);
    if (json === undefined) {
      await fs.rm(file, { force: true });
      return;
    }
    await makeDirectory(this.directory);
    await writeFileAtomic(file, stateText(key, json), this.options);
  }

  /** `set` of a value, synchronously: for a write back in the turn the process may end in. */
  setSync(key: string, json: string): void {
    makeDirectorySync(this.directory);
    writeFileAtomicSync(stateFile(this.directory, key), stateText(key, json), this.options);
  }
}

/**
 * Makes way for `state/` in the outbox `directory`: anything else there (a file, a symlink, a
 * FIFO) is moved aside to `state.<time>.in-the-way`, never deleted (it is not ours). A file there
 * failed every claim (ENOTDIR listing the clear requests) and every state read and write, so
 * nothing was ever sent; a symlink would have had the state written wherever it points. Answers
 * what it moved ('a file', 'a FIFO', ...), or undefined when `state/` was a directory or missing
 * (or another process opening the outbox at the same time moved it first).
 */
export async function moveAsideWhatIsInStatesPlace(directory: string): Promise<string | undefined> {
  const file = path.join(directory, STATE_DIR);
  const st = await fs.lstat(file).catch(() => null);
  if (st === null || st.isDirectory()) return undefined;
  try {
    await fs.rename(file, inTheWayName(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return st.isFile() ? 'a file' : whatItIs(st);
}

/**
 * `StateFiles.get`, synchronously, for what must be known before the first event is built (an
 * install id kept in an older version's state); undefined when unset or unreadable.
 */
export function readStateSync(directory: string, key: string): unknown {
  try {
    return valueIn(ownFileTextSync(stateFile(directory, key)), key);
  } catch {
    return undefined;
  }
}

function stateText(key: string, json: string): string {
  return `{"key":${JSON.stringify(key)},"value":${json}}`;
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
