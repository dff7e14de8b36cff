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
 * already there is left as it is.
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
    }
  }
}

/**
 * `made`: called with each directory this call made (an ancestor before its child), so that the
 * outbox hears its directory was made again after it was deleted.
 */
export async function makeDirectory(directory: string, made?: (directory: string) => void): Promise<void> {
  const target = path.resolve(directory);
  try {
    await mkdir(target, PRIVATE_DIRECTORY_MODE);
  } catch (error) {
    if (codeOf(error) === 'EEXIST' && (await isDirectory(target))) return;
    const parent = path.dirname(target);
    if (codeOf(error) !== 'ENOENT' || parent === target) throw error;
    await makeDirectory(parent, made);
    try {
      await mkdir(target, PRIVATE_DIRECTORY_MODE);
    } catch (again) {
      if (codeOf(again) !== 'EEXIST' || !(await isDirectory(target))) throw again;
      return;
    }
  }
  made?.(target);
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
