import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * The user's cache directory, where the default file outbox lives:
 * `%LOCALAPPDATA%` on Windows, `~/Library/Caches` on macOS, `$XDG_CACHE_HOME` (when absolute,
 * as the XDG spec requires) or `~/.cache` elsewhere.
 */
export function userCacheDirectory(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform,
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
 */
export function defaultOutboxDirectory(name: string, cacheDirectory: string = userCacheDirectory()): string {
  return join(cacheDirectory, 'homing', safeSegment(name));
}

export function safeSegment(name: string): string {
  const cleaned = String(name)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 100);
  return cleaned === '' ? 'default' : cleaned;
}
