import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR_MODE } from './dataDirModes.js';

/**
 * `mkdir -p` for the data directory, that always ends: Node's `mkdirSync(dir, { recursive:
 * true })` loops forever where mkdir answers ENOENT under a parent that exists (procfs:
 * `--data-dir /proc/homing`), so `homing serve` hung at start instead of naming the problem.
 * Each missing ancestor is made once, top down; mkdir's own error ends it. The data directory
 * itself is made DATA_DIR_MODE (its files hold every project's keys); missing parents get the
 * usual mode, as with `mkdir -p`, since other programs share them (`~/.local/share`). An
 * existing directory is left as it is.
 */
export function makeDataDir(directory: string): void {
  makeDirectory(path.resolve(directory), DATA_DIR_MODE);
}

function makeDirectory(target: string, mode?: number): void {
  try {
    mkdirSync(target, mode);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && isDirectory(target)) return;
    const parent = path.dirname(target);
    if (code !== 'ENOENT' || parent === target) throw error;
    makeDirectory(parent);
    try {
      mkdirSync(target, mode);
    } catch (again) {
      if ((again as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(target)) throw again;
    }
  }
}

function isDirectory(target: string): boolean {
  try {
    return statSync(target).isDirectory();
  } catch {
    return false;
  }
}
