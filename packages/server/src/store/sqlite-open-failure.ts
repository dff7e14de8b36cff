/**
 * What to do about a database file SQLite would not open, chosen by its error code: a file the
 * user may not write and a damaged file need opposite advice (moving a file aside that is only
 * unreadable loses nothing to the fix, but moving one that holds events loses them).
 */
export function openFailureAdvice(code: unknown, file: string, dir: string, damaged: string): string {
  const access = `check that ${file} is a file you may read and write, in a directory you may write (${dir}), or point --data-dir / HOMING_DATA_DIR at another directory`;
  if (typeof code !== 'string') return `${damaged}; or ${access}`;
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) return damaged;
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_PERM') ||
    code.startsWith('SQLITE_AUTH') ||
    code === 'EACCES' ||
    code === 'EPERM' ||
    code === 'EROFS'
  ) {
    return access;
  }
  return `if the file is damaged, ${damaged}; otherwise ${access}`;
}
