import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PRIVATE_DIRECTORY_MODE } from './privateModes.js';

/**
 * `mkdir -p` that always ends. Node's own recursive mkdir, sync and async alike, loops forever
 * where mkdir answers ENOENT under a parent that exists (procfs: `/proc/homing`): a `directory`
 * option there hung `createTelemetry` on the app's turn, and the async form kept the process
 * from ever exiting. These make each missing ancestor once, top down, and fail with mkdir's own
 * error when a directory still cannot be made; a file in the way fails with EEXIST, as Node's does.
 *
 * Each directory they make, ancestors too, is the owner's alone (`PRIVATE_DIRECTORY_MODE`); one
 * already there is left as it is, and each they make is told to its `onDirectoryMade` listeners.
 */
export function makeDirectorySync(directory: string): void {
  const target = path.resolve(directory);
  try {
    mkdirSync(target, PRIVATE_DIRECTORY_MODE);
  } catch (error) {
    if (codeOf(error) === 'EEXIST' && isDirectorySync(target)) return;
    const parent = path.dirname(target);
    if (codeOf(error) !== 'ENOENT' || parent === target) throw error;
    makeDirectorySync(parent);
    try {
      mkdirSync(target, PRIVATE_DIRECTORY_MODE);
    } catch (again) {
      if (codeOf(again) !== 'EEXIST' || !isDirectorySync(target)) throw again;
      return;
    }
  }
  tell(target, true);
}

export async function makeDirectory(directory: string): Promise<void> {
  const target = path.resolve(directory);
  try {
    await mkdir(target, PRIVATE_DIRECTORY_MODE);
  } catch (error) {
    if (codeOf(error) === 'EEXIST' && (await isDirectory(target))) return;
    const parent = path.dirname(target);
    if (codeOf(error) !== 'ENOENT' || parent === target) throw error;
    await makeDirectory(parent);
    try {
      await mkdir(target, PRIVATE_DIRECTORY_MODE);
    } catch (again) {
      if (codeOf(again) !== 'EEXIST' || !(await isDirectory(target))) throw again;
      return;
    }
  }
  tell(target, false);
}

/** `synchronously`: made by `makeDirectorySync`, maybe in the turn the process ends in. */
type MadeListener = (synchronously: boolean) => void;

const madeListeners = new Map<string, Set<MadeListener>>();

/**
 * Tells `listener` each time this process makes `directory` (after it was deleted), whoever
 * makes it: the outbox hears so that it writes back what it kept there. Told by the caller of
 * each write only, a write of the outbox's segment at exit and one of the identity made it
 * again unheard, and the next run was a new anonymous user. Returns the unsubscribe.
 */
export function onDirectoryMade(directory: string, listener: MadeListener): () => void {
  const target = path.resolve(directory);
  const own: MadeListener = (synchronously) => listener(synchronously);
  const set = madeListeners.get(target) ?? new Set<MadeListener>();
  madeListeners.set(target, set);
  set.add(own);
  return () => {
    set.delete(own);
    if (set.size === 0 && madeListeners.get(target) === set) madeListeners.delete(target);
  };
}

function tell(target: string, synchronously: boolean): void {
  const set = madeListeners.get(target);
  if (set === undefined) return;
  for (const listener of [...set]) {
    try {
      listener(synchronously);
    } catch {
      // The directory is made: a listener's failure is not the maker's.
    }
  }
}

function codeOf(error: unknown): unknown {
  return (error as NodeJS.ErrnoException | null)?.code;
}

function isDirectorySync(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}

async function isDirectory(target: string): Promise<boolean> {
  try {
    return (await stat(target)).isDirectory();
  } catch {
    return false;
  }
}
