import { accessSync, constants, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { basename } from 'node:path';

/**
 * What to do about a database file SQLite would not open, chosen by its error code: a file the
 * user may not write and a damaged file need opposite advice (moving a file aside that is only
 * unreadable loses nothing to the fix, but moving one that holds events loses them).
 */
export function openFailureAdvice(code: unknown, file: string, dir: string, damaged: string): string {
  const access = accessAdvice(file, dir);
  if (typeof code !== 'string') return `${damaged}; or ${access}`;
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) return damaged;
  // Whose the files are, or a read-only mount, says more than "check that you may write".
  if (
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_PERM') ||
    code.startsWith('SQLITE_AUTH') ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS'
  ) {
    return notWritableAdvice(file, dir);
  }
  return `if the file is damaged, ${damaged}; otherwise ${access}`;
}

function accessAdvice(file: string, dir: string): string {
  return `check that ${file} is a file you may read and write, in a directory you may write (${dir}), or point --data-dir / HOMING_DATA_DIR at another directory`;
}

/**
 * What to do about a database file SQLite opened but may not write (it falls back to read-only
 * without a word, so this is found by a probe write at start): names the store's files this
 * user may not write, with their owner, and the chown that gives them back. The usual cause is
 * a command once run with sudo, which leaves what it created or rewrote root's.
 */
export function notWritableAdvice(file: string, dir: string): string {
  const access = accessAdvice(file, dir);
  const blocked: string[] = [];
  /** Whether a blocked file is another user's (chown), not only without its owner's write bit (chmod). */
  let othersOwn = false;
  let ownerCannotWrite = false;
  let readOnlyFs = false;
  const uid = process.getuid?.();
  // The directory too: on a read-only mount SQLite cannot make the -wal and -shm files beside a
  // database that is there (SQLITE_CANTOPEN), nor the database itself.
  for (const f of [file, `${file}-wal`, `${file}-shm`, dir]) {
    try {
      accessSync(f, constants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EROFS') readOnlyFs = true;
      if (code !== 'EACCES' && code !== 'EPERM') continue;
      const name = f === dir ? `the data directory ${dir}` : basename(f);
      try {
        const st = statSync(f);
        if (st.uid !== uid) othersOwn = true;
        if ((st.mode & 0o200) === 0) ownerCannotWrite = true;
        blocked.push(`${name} belongs to uid ${st.uid} (mode ${(st.mode & 0o777).toString(8)})`);
      } catch {
        othersOwn = true;
        blocked.push(`${name} is not writable`);
      }
    }
  }
  if (readOnlyFs)
    return `the file system under ${dir} is mounted read-only; mount it read-write, or ${access}`;
  if (blocked.length === 0) return access;
  const me = currentUser();
  // This user's own files with the write bit off (a chmod, a copy from a read-only medium):
  // handing them to the same user again would change nothing.
  if (!othersOwn) {
    return (
      `${blocked.join(', ')}, and this process runs as ${me.label}, their owner, without write ` +
      `permission on them: give it back (chmod -R u+rwX ${dir})`
    );
  }
  return (
    `${blocked.join(', ')}, and this process runs as ${me.label}: give the data directory back to ` +
    `the user homing serve runs as (sudo chown -R ${me.chownTo} ${dir}${ownerCannotWrite ? ` && chmod -R u+rwX ${dir}` : ''}), ` +
    'or run homing serve as the owner of these files'
  );
}

function currentUser(): { label: string; chownTo: string } {
  const uid = process.getuid?.();
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    // A uid without a passwd entry (containers run with an arbitrary --user).
  }
  if (uid === undefined) return { label: name ?? 'this user', chownTo: name ?? '<user>' };
  return { label: name === undefined ? `uid ${uid}` : `${name} (uid ${uid})`, chownTo: name ?? String(uid) };
}
