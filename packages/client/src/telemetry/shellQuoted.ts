/**
 * `s` as one word of a POSIX shell command line: as it is when that is safe, else in single
 * quotes. For the commands a warning suggests (a path with a space or a quote in it, as a cache
 * directory under a user name can be). The CLI has its own: the client never imports it.
 */
export function shellQuoted(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
