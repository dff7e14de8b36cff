/**
 * Why this user cannot read or change an outbox, told so that they can fix it. Three causes want
 * three different answers: another user's outbox (run as that user); the user's own outbox with
 * some files in it that are not theirs, left by the app or a `homing` command run once with sudo
 * (give them back: chown); and the user's own outbox that is read-only (chmod, or a read-only
 * file system). The file in the way is named: "the outbox belongs to uid N, run as uid N" sent
 * its owner in a circle and left them to find the file by hand.
 */
import { constants } from 'node:fs';
import { access, lstat, open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { CommandError } from './commandError.js';
import { shellQuoted } from './shellQuoted.js';

const DENIED = new Set(['EACCES', 'EPERM']);
/** Bits that let accounts other than the owner add, rename or remove entries. */
const WRITABLE_BY_OTHERS = 0o022;
/** The outbox's subdirectory of remembered states (consent, breakers, endpoints). */
const STATE_DIR = 'state';
/** Files named in a message, at most; the rest are counted. */
const NAMED = 3;

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Refuses, up front, an outbox this user cannot read whole: the outbox makes its files its
 * owner's alone (0600), so a user may list the directory and still not read a file of it, and
 * said here rather than as the first read's EACCES half-way through a listing. A file gone
 * meanwhile (delivery deleted it) is no matter.
 */
export async function assertOutboxReadable(directory: string): Promise<void> {
  await assertStateDirectory(directory);
  const denied: string[] = [];
  const note = (error: unknown, path: string): void => {
    if (DENIED.has(codeOf(error) ?? '')) denied.push((error as NodeJS.ErrnoException).path ?? path);
  };
  let names: string[] = [];
  try {
    // Listing a subdirectory it may not enter (`state/`, 0700) fails too.
    names = await readdir(directory, { recursive: true });
  } catch (error) {
    note(error, directory);
  }
  for (const name of names) {
    const file = join(directory, name);
    // Opened rather than access()ed: access() asks for the real user, open() (like the reads that
    // follow) for the effective one. Non-blocking, so a FIFO put there does not hang the command.
    await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).then(
      (handle) => handle.close(),
      (error: unknown) => note(error, file),
    );
  }
  if (denied.length > 0) throw await accessError(directory, 'read', denied);
}

/**
 * Refuses, for every command, an outbox in a directory (or a `state/`) that others than its owner
 * can write in, as the app refuses it: anything in it may have been put there by another account
 * (events sent with the user's key, endpoints a flush would send the user's events to, a consent).
 * A status of it would show what someone else planted; and it is the answer to "why does my app
 * keep its events in memory?". Owned by another account but private, it is still read (root
 * looking at a user's outbox): only its owner (or root) can have put anything there. Skipped on
 * Windows, whose permission bits say nothing of its ACLs.
 */
export async function assertOutboxPrivate(directory: string): Promise<void> {
  if (process.platform === 'win32') return;
  for (const path of [directory, join(directory, STATE_DIR)]) {
    const st = await stat(path).catch(() => null);
    if (st === null || (st.mode & WRITABLE_BY_OTHERS) === 0) continue;
    const me = effectiveUid();
    const mode = modeText(st.mode & 0o7777);
    const sticky = (st.mode & 0o1000) !== 0 ? '; the sticky bit does not keep them from adding files' : '';
    const yours = me !== undefined && st.uid === me;
    throw new CommandError(
      `${path} can be written by others than its owner (${uidName(st.uid)}, mode ${mode}${sticky}): what is in the outbox (events, the endpoints a flush sends to and their keys, the remembered consent) may have been put there by another account, so neither the app nor this command uses it`,
      yours
        ? `take the write bits from others: chmod go-w ${shellQuoted(path)}, and remove what others may have put in it`
        : `let the app use a directory of its own (by default <cache>/homing/<name>, made private); ${uidName(st.uid)} can make this one private (chmod go-w ${shellQuoted(path)})`,
    );
  }
}

/**
 * Refuses changing an outbox (flush sends with the endpoints and keys saved in it) that is not
 * this user's own, as the app refuses it; root's case is told by `assertOutboxWritable`, and
 * another user's private outbox is not writable to begin with: this is for one another account
 * made but lets this user write in (an ACL), or a `state/` left another account's.
 */
export async function assertOutboxOwn(directory: string): Promise<void> {
  const me = effectiveUid();
  if (me === undefined || process.platform === 'win32') return;
  for (const path of [directory, join(directory, STATE_DIR)]) {
    const st = await stat(path).catch(() => null);
    if (st === null || st.uid === me) continue;
    throw new CommandError(
      `${path} belongs to ${uidName(st.uid)}, not to this user (${uidName(me)}): what is in it may have been put there by that account, and what this command writes there would be this user's`,
      path === directory
        ? `run the command as the user the app runs as (sudo -u '#${st.uid}' homing ...), or let the app use a directory of its own`
        : `give it back to the outbox's owner: sudo chown -R ${me} ${shellQuoted(directory)}`,
    );
  }
}

/** Refuses an outbox this user may not write in (commands that change it write lock and state files). */
export async function assertOutboxWritable(directory: string): Promise<void> {
  const st = await stat(directory).catch(() => null);
  const me = effectiveUid();
  // Root may write anywhere, and what it writes stays root's (0600): one `sudo homing flush` on a
  // user's outbox left state files that kept its app, and every `homing` command run as that
  // user, out. Run as the owner instead.
  if (st !== null && me === 0 && st.uid !== 0) {
    throw new CommandError(
      `the outbox at ${directory} belongs to uid ${st.uid}, and this command, run as root, would leave files in it that uid ${st.uid} (its app, and homing run as it) could not read`,
      `run it as that user: sudo -u '#${st.uid}' homing ...`,
    );
  }
  // The owner's write bit, looked at for the effective user (access() asks for the real one);
  // root's writes do not depend on it.
  if (st !== null && me !== 0 && st.uid === me && (st.mode & 0o200) === 0) {
    throw await accessError(directory, 'change', [directory]);
  }
  await access(directory, constants.W_OK).catch(async (error: unknown) => {
    if (codeOf(error) === 'EROFS') {
      throw new CommandError(
        `cannot change the outbox at ${directory}: it is on a read-only file system`,
        'run the command where the outbox can be written (remount the file system read-write)',
      );
    }
    if (!DENIED.has(codeOf(error) ?? '')) throw unexplained(directory, 'change', error);
    throw await accessError(directory, 'change', [directory]);
  });
}

/**
 * A file where the outbox keeps its `state/` directory: every state read and write fails with
 * ENOTDIR (and delivery with it), which said nothing about what to do.
 */
async function assertStateDirectory(directory: string): Promise<void> {
  const path = join(directory, STATE_DIR);
  const st = await lstat(path).catch(() => null);
  if (st === null || st.isDirectory()) return;
  throw new CommandError(
    `${path} is not a directory: the outbox keeps its remembered states (consent, endpoints, breakers) in a directory there, so neither the app nor this command can use the outbox`,
    `move it aside (mv ${path} ${path}.in-the-way); the directory is made again on the next use`,
  );
}

export function unexplained(dir: string, need: 'read' | 'change', cause: unknown): CommandError {
  return new CommandError(
    `cannot ${need} the outbox at ${dir}: ${cause instanceof Error ? cause.message : String(cause)}`,
  );
}

interface Owned {
  path: string;
  uid: number | null;
  mode: number | null;
}

/** `blocked` (the directory itself, or files in it) cannot be read (or written): say whose they are. */
export async function accessError(
  dir: string,
  need: 'read' | 'change',
  blocked: string[],
): Promise<CommandError> {
  const me = effectiveUid();
  const owned = async (path: string): Promise<Owned> =>
    stat(path).then(
      (s) => ({ path, uid: s.uid, mode: s.mode & 0o777 }),
      () => ({ path, uid: null, mode: null }),
    );
  const outbox = await owned(dir);
  // Another user's outbox (or no way to tell): run as the user the app runs as.
  if (me === undefined || outbox.uid === null || outbox.uid !== me) {
    return new CommandError(
      `permission denied: this user cannot ${need} the outbox at ${dir}` +
        (outbox.uid === null
          ? ''
          : ` (it belongs to ${uidName(outbox.uid)}${me === undefined ? '' : `, not to this user, ${uidName(me)}`})`),
      'run the command as the user the app runs as (e.g. sudo -u that user), or give this user access to the directory',
    );
  }
  const files = await Promise.all(blocked.map(owned));
  const strangers = files.filter((f) => f.uid !== null && f.uid !== me);
  const named = (list: Owned[]): string =>
    list
      .slice(0, NAMED)
      .map((f) => {
        const name = f.path === dir ? dir : relative(dir, f.path);
        if (f.uid === null) return name;
        return f.uid === me
          ? `${name} (mode ${f.mode!.toString(8).padStart(3, '0')})`
          : `${name}, owned by ${uidName(f.uid)}`;
      })
      .join('; ') + (list.length > NAMED ? ` and ${list.length - NAMED} more` : '');
  if (strangers.length > 0) {
    return new CommandError(
      `permission denied: this user (uid ${me}) owns the outbox at ${dir} but cannot ${need} ${named(strangers)}`,
      `a command run with sudo (the app, or homing) leaves what it writes root's; give the files back to the outbox's user: sudo chown -R ${me} ${shellQuoted(dir)}`,
    );
  }
  // This user's own files, with modes that keep this user out.
  if (need === 'change') {
    return new CommandError(
      `the outbox at ${dir} is read-only (mode ${outbox.mode!.toString(8).padStart(3, '0')}): this user owns it but may not write in it, and this command changes it`,
      `make it writable again (chmod u+rwx ${shellQuoted(dir)}), or use homing status, which only reads`,
    );
  }
  return new CommandError(
    `permission denied: this user (uid ${me}) owns the outbox at ${dir} but its modes keep it from reading ${named(files)}`,
    `give the owner access again: chmod -R u+rwX ${shellQuoted(dir)}`,
  );
}

function effectiveUid(): number | undefined {
  return process.geteuid?.() ?? process.getuid?.();
}

function modeText(mode: number): string {
  return mode.toString(8).padStart(3, '0');
}

function uidName(uid: number): string {
  return uid === 0 ? 'root (uid 0)' : `uid ${uid}`;
}
