// No node: import here: the class is exported from the Node entry, whose declarations a browser
// project's compiler may read too (TypeScript's NodeNext resolution always takes 'node').

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
