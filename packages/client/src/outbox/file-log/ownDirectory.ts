import { type Stats, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { STATE_DIR } from './segmentFiles.js';
import { UnsafeDirectoryError, type UnsafeReason } from './UnsafeDirectoryError.js';

export { UnsafeDirectoryError, type UnsafeReason } from './UnsafeDirectoryError.js';

/** Bits that let accounts other than the owner add, rename or remove entries. */
const WRITABLE_BY_OTHERS = 0o022;

/**
 * Why `stats` (of a directory or a file) is not this user's alone, if it is not: not owned by the
 * effective uid, or writable by group or others. The sticky bit does not make a directory safe:
 * it keeps others from removing what is not theirs, not from adding files. Root is held to the
 * same owner rule: what it would write in another user's directory stays root's (0600) and
 * locks the owner out. Nothing on Windows, whose permission bits say nothing of its ACLs and
 * which has no uid.
 */
export function unsafeReasons(stats: Stats, uid: number | undefined = effectiveUid()): UnsafeReason[] {
  if (process.platform === 'win32') return [];
  const reasons: UnsafeReason[] = [];
  if (uid !== undefined && stats.uid !== uid) reasons.push('owner');
  if ((stats.mode & WRITABLE_BY_OTHERS) !== 0) reasons.push('writable');
  return reasons;
}

/**
 * Why the outbox directory `directory`, or its `state/`, is not this user's alone (`uid`'s: by
 * default this process's effective one); undefined when it is, or when it is not there (what the
 * outbox makes is private: `privateModes.ts`) or cannot be looked at (the operation that follows
 * fails with its own error).
 */
export async function unsafeDirectory(
  directory: string,
  uid: number | undefined = effectiveUid(),
): Promise<UnsafeDirectoryError | undefined> {
  for (const dir of [directory, path.join(directory, STATE_DIR)]) {
    const stats = await stat(dir).catch(() => undefined);
    const unsafe = stats === undefined ? undefined : unsafeError(directory, dir, stats, uid);
    if (unsafe !== undefined) return unsafe;
  }
  return undefined;
}

/** `unsafeDirectory`, synchronously (the install id, the identity and the consent read at start). */
export function unsafeDirectorySync(
  directory: string,
  uid: number | undefined = effectiveUid(),
): UnsafeDirectoryError | undefined {
  for (const dir of [directory, path.join(directory, STATE_DIR)]) {
    let stats: Stats;
    try {
      stats = statSync(dir);
    } catch {
      continue;
    }
    const unsafe = unsafeError(directory, dir, stats, uid);
    if (unsafe !== undefined) return unsafe;
  }
  return undefined;
}

/**
 * `unsafeDirectorySync`, remembered once the directory is found safe: stores that look at it on
 * every call (`identify()` on every request) pay the two `stat`s once. Only the owner (or root)
 * could make it unsafe after that. One that is not safe is looked at again each time, so a
 * directory fixed while the app runs is used from then on.
 */
export function ownDirectoryCheck(directory: string): () => UnsafeDirectoryError | undefined {
  let safe = false;
  return () => {
    if (safe) return undefined;
    const unsafe = unsafeDirectorySync(directory);
    safe = unsafe === undefined;
    return unsafe;
  };
}

function unsafeError(
  directory: string,
  dir: string,
  stats: Stats,
  uid: number | undefined,
): UnsafeDirectoryError | undefined {
  const reasons = unsafeReasons(stats, uid);
  if (reasons.length === 0) return undefined;
  return new UnsafeDirectoryError(directory, dir, reasons, stats.uid, stats.mode & 0o7777, uid);
}

export function effectiveUid(): number | undefined {
  return process.geteuid?.() ?? process.getuid?.();
}
