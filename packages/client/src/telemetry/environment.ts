import type { Platform } from '../platform/platform.js';

/**
 * Environment switches, read through the platform adapter (browsers have none): a CLI user's
 * `DO_NOT_TRACK=1` (consoledonottrack.com) or `HOMING_DISABLED=1` makes the client a no-op;
 * `HOMING_DEBUG=1` turns on console logging.
 */
export function envFlag(platform: Platform, name: string): boolean {
  let value: string | undefined;
  try {
    value = platform.env(name);
  } catch {
    return false;
  }
  if (value === undefined) return false;
  return !['', '0', 'false', 'no', 'off'].includes(value.trim().toLowerCase());
}

/** Why the client is off, or null when it is on. */
export function disabledBy(
  platform: Platform,
  options: { disabled: boolean; respectDoNotTrack: boolean },
): string | null {
  if (options.disabled) return 'the disabled option';
  if (envFlag(platform, 'HOMING_DISABLED')) return 'HOMING_DISABLED';
  if (options.respectDoNotTrack && envFlag(platform, 'DO_NOT_TRACK')) return 'DO_NOT_TRACK';
  return null;
}
