import { createHash } from 'node:crypto';
import { homedir, userInfo } from 'node:os';
import path, { join } from 'node:path';

/**
 * No cache directory can be found: no usable home (HOME unset, empty or relative, and no passwd
 * entry for the uid: a container run with an arbitrary `--user`, an `env -i` job) and no
 * absolute `XDG_CACHE_HOME`/`%LOCALAPPDATA%`. The client then keeps its events in memory (with a
 * warning), as for a cache directory it cannot write.
 */
export class NoCacheDirectoryError extends Error {
  readonly kind = 'no-cache-directory' as const;
  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      `no cache directory for the outbox: ${detail}; set HOME or XDG_CACHE_HOME, or pass the directory option`,
      options,
    );
    this.name = 'NoCacheDirectoryError';
  }
}

/**
 * The user's cache directory, where the default file outbox lives:
 * `%LOCALAPPDATA%` on Windows, `~/Library/Caches` on macOS, `$XDG_CACHE_HOME` (when absolute,
 * as the XDG spec requires) or `~/.cache` elsewhere. Throws `NoCacheDirectoryError` when there
 * is none (see `homeDirectory`).
 *
 * Every directory taken from the environment must be absolute, the home too: a relative one
 * (HOME='' gave '.cache') named a directory under whatever the working directory was, so each
 * project a CLI ran in got its own queue and install id, and a `.cache/` left in the repo.
 */
export function userCacheDirectory(
  env: Record<string, string | undefined> = process.env,
  platform: string = process.platform,
  home: string | (() => string) = homeDirectory,
): string {
  const absolute = platform === 'win32' ? path.win32.isAbsolute : path.posix.isAbsolute;
  const homeDir = (): string => {
    const found = typeof home === 'function' ? home() : home;
    if (!absolute(found)) throw new NoCacheDirectoryError(`the home directory '${found}' is not absolute`);
    return found;
  };
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA;
    return local !== undefined && absolute(local) ? local : join(homeDir(), 'AppData', 'Local');
  }
  if (platform === 'darwin') return join(homeDir(), 'Library', 'Caches');
  const xdg = env.XDG_CACHE_HOME;
  return xdg !== undefined && absolute(xdg) ? xdg : join(homeDir(), '.cache');
}

/**
 * The home directory: `os.homedir()` (HOME, or the passwd entry when HOME is unset) when it is
 * absolute; else the passwd entry's (HOME set empty or relative). `os.homedir()` throws when
 * HOME is unset and the uid has no passwd entry: that, like no absolute home at all, is a
 * `NoCacheDirectoryError`, never an unexplained SystemError out of `createTelemetry`.
 */
export function homeDirectory(): string {
  let found: string;
  try {
    found = homedir();
  } catch (error) {
    throw new NoCacheDirectoryError('HOME is not set and the user has no passwd entry', { cause: error });
  }
  if (path.isAbsolute(found)) return found;
  let fromPasswd: string | undefined;
  try {
    fromPasswd = userInfo().homedir;
  } catch {
    // No passwd entry: none found below.
  }
  if (fromPasswd !== undefined && path.isAbsolute(fromPasswd)) return fromPasswd;
  throw new NoCacheDirectoryError(
    `HOME ('${found}') is not an absolute path, and the user has no other home`,
  );
}

/**
 * `<cache>/homing/<name>`, with the name made safe as one path segment: an app name must never
 * climb out of the cache directory or name a device.
 *
 * The directory a version before the hashed segments used for a name that now gets a hash
 * ('my app' was `my_app`) is never taken over, neither moved nor used: that name is also the
 * whole directory of the app named `my_app` (every old segment is a safe name), and nothing in
 * it says which app wrote it (no version recorded the name). Taking it gave one app the other's
 * queued events, to send to its own endpoint, and its install id and identity, and left the
 * other with an empty queue. An install upgraded from such a version starts a new outbox; the
 * old directory is left as it was (README: moving it by hand).
 */
export function defaultOutboxDirectory(name: string, cacheDirectory: string = userCacheDirectory()): string {
  return join(cacheDirectory, 'homing', safeSegment(name));
}

/** Characters kept from a name; each other one becomes `_`. */
const UNSAFE = /[^A-Za-z0-9._-]/g;
const MAX_KEPT = 100;

/**
 * The name as one safe path segment. A name already safe is the segment itself (so the outbox
 * of an existing install stays where it is). Otherwise, after the characters are replaced or
 * the name cut, `-` and 8 hex digits of the name's SHA-256 are appended: 'café' and 'cafè',
 * 'my app' and 'my_app', or two Japanese names all became one directory, and so one outbox and
 * one install id, and one app's queued events went to the other's endpoint with its key.
 */
export function safeSegment(name: string): string {
  const original = String(name);
  if (original === '') return 'default';
  const cleaned = original.replace(UNSAFE, '_').replace(/^\.+/, '_').slice(0, MAX_KEPT);
  if (cleaned === original) return cleaned;
  const hash = createHash('sha256').update(original, 'utf8').digest('hex').slice(0, 8);
  return `${cleaned}-${hash}`;
}
