import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * `mkdir -p` for the data directory, that always ends: Node's `mkdirSync(dir, { recursive:
 * true })` loops forever where mkdir answers ENOENT under a parent that exists (procfs:
 * `--data-dir /proc/homing`), so `homing serve` hung at start instead of naming the problem.
 * Each missing ancestor is made once, top down; mkdir's own error ends it.
 */
export function makeDataDir(directory: string): void {
  const target = path.resolve(directory);
  try {
    mkdirSync(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && isDirectory(target)) return;
    const parent = path.dirname(target);
    if (code !== 'ENOENT' || parent === target) throw error;
    makeDataDir(parent);
    try {
      mkdirSync(target);
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
