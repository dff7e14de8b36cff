import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * The user's cache directory, where the default file outbox lives:
 * `%LOCALAPPDATA%` on Windows, `~/Library/Caches` on macOS, `$XDG_CACHE_HOME` (when absolute,
 * as the XDG spec requires) or `~/.cache` elsewhere.
 */
export function userCacheDirectory(
  env: Record<string, string | undefined> = process.env,
  platform: string = process.platform,
  home: string = homedir(),
): string {
  if (platform === 'win32') {
    const local = env.LOCALAPPDATA;
    return local !== undefined && local !== '' ? local : join(home, 'AppData', 'Local');
  }
  if (platform === 'darwin') return join(home, 'Library', 'Caches');
  const xdg = env.XDG_CACHE_HOME;
  return xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, '.cache');
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
