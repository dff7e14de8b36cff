import { type Stats, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { STATE_DIR } from './segmentFiles.js';

/** Bits that let accounts other than the owner add, rename or remove entries. */
const WRITABLE_BY_OTHERS = 0o022;
const STICKY = 0o1000;

/** What makes a directory (or file) not this user's alone. */
export type UnsafeReason = 'owner' | 'writable';

/**
 * An outbox directory (or its `state/`) that another account made or can write in: whatever it
 * holds (queued events, saved endpoints and their keys, breakers, the remembered consent, the
 * install id, the identity) may have been put there by someone else. A shared place (a
 * `directory` under /tmp, a world-writable cache) squatted by another user before the app first
 * ran turned an app's `consent: 'denied'` into a planted 'granted'. Refused as ssh, tmux and gpg
 * refuse theirs; the message says whose it is, its mode, and what to do.
 */
export class UnsafeDirectoryError extends Error {
  constructor(
    /** The outbox directory. */
    readonly directory: string,
    /** The directory found unsafe: `directory` itself or its `state/`. */
    readonly path: string,
    readonly reasons: readonly UnsafeReason[],
    /** Its owner and permission bits (sticky bit included). */
    readonly owner: number,
    readonly mode: number,
    /** This process's effective uid, when the platform has one. */
    readonly uid: number | undefined,
  ) {
    super(describe(path, reasons, owner, mode, uid));
    this.name = 'UnsafeDirectoryError';
  }
}

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

function describe(
  dir: string,
  reasons: readonly UnsafeReason[],
  owner: number,
  mode: number,
  uid: number | undefined,
): string {
  const octal = mode.toString(8).padStart(3, '0');
  const why: string[] = [];
  if (reasons.includes('owner')) {
    const shown = reasons.includes('writable') ? '' : ` (mode ${octal})`;
    why.push(`it belongs to ${uidName(owner)}${shown}, not to this process's user, ${uidName(uid!)}`);
  }
  if (reasons.includes('writable')) {
    const others = reasons.includes('owner') ? 'others' : `others than its owner (${uidName(owner)})`;
    const sticky = (mode & STICKY) !== 0 ? '; the sticky bit does not keep them from adding files' : '';
    why.push(`${others} can write in it (mode ${octal}${sticky})`);
  }
  const fix = reasons.includes('owner')
    ? `give the app a directory of this user's own: another one (the default, in the user's cache directory), or remove this one so that it is made again, private (a chown would keep what others may have put in it)${owner === 0 ? '' : `; or, if it is ${uidName(owner)}'s outbox, run the app as that user`}`
    : `take the write bits from others: chmod go-w ${quoted(dir)} (and remove what others may have put in it), or choose another directory`;
  return (
    `the outbox directory ${dir} is not this user's alone: ${why.join(', and ')}. ` +
    'Anything in it (queued events, saved endpoints and their keys, the remembered consent, the install id) ' +
    `may have been put there by another account, so it is not used. To fix: ${fix}`
  );
}

function uidName(uid: number): string {
  return uid === 0 ? 'root (uid 0)' : `uid ${uid}`;
}

function quoted(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
