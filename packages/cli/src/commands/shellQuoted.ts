/** `s` as one word of a POSIX shell command line: as it is when that is safe, else in single quotes. */
export function shellQuoted(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
