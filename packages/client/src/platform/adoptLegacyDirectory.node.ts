import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The segment versions before the hashed one gave a name: unsafe characters replaced by `_`,
 * leading dots too, cut to 100; '' is 'default'. Kept only to find the outbox of an install
 * made with them, so frozen: it must not follow later changes to `safeSegment`.
 */
export function legacySegment(name: string): string {
  const cleaned = String(name)
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 100);
  return cleaned === '' ? 'default' : cleaned;
}

/**
 * `<parent>/<segment>`, after moving an install's outbox there from `<parent>/<legacy>`, where
 * a version before the hashed segments kept it: without that, an upgrade started over in an
 * empty directory, with a new install id, and the queued events and kept identity of the old
 * one were never sent nor read again.
 *
 * Two names that shared the legacy directory ('café' and 'cafè' both were `caf_`) keep sharing
 * what it held: the first of them to start adopts it (its events, install id and identity,
 * whichever app wrote them), the other starts empty. Which app they came from cannot be told
 * any more; splitting them from now on is what the hash is for.
 *
 * Never throws: a directory that cannot be moved (another process renamed it first, an old
 * version still holding it open on Windows, no permission) leaves the directory that exists in
 * use, the hashed one when both or neither do.
 */
export function adoptLegacyDirectory(parent: string, legacy: string, segment: string): string {
  const target = join(parent, segment);
  if (legacy === segment) return target;
  const old = join(parent, legacy);
  try {
    if (existsSync(target) || !existsSync(old)) return target;
    renameSync(old, target);
    return target;
  } catch {
    try {
      return !existsSync(target) && existsSync(old) ? old : target;
    } catch {
      return target;
    }
  }
}
