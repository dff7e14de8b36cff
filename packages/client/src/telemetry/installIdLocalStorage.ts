import type { Outbox } from '../outbox/outbox.js';
import type { InstallIdStore } from './installId.js';
import { isInstallId, loadInstallId } from './installId.js';
import { defaultLocalStorage, readItem, type SyncStorage } from './localStorageAccess.js';

/** The localStorage key of the install id of the outbox called `name`. */
export function installIdKey(name: string): string {
  return `homing:${name}:install-id`;
}

/**
 * Browsers: the install id copied into localStorage, which a page reads synchronously, so
 * events tracked right after `createTelemetry` are built at once instead of waiting in memory
 * for IndexedDB (a page that navigates away within those milliseconds lost them).
 *
 * The id itself stays where it always was, in the outbox state (`loadInstallId`): the first
 * page load without the copy (a first visit, or the first after an upgrade) reads or creates it
 * there and writes the copy, so an install never changes id. Without usable localStorage
 * (disabled, full, a sandboxed frame) every load does that.
 */
export function installIdLocalStorage(
  name: string,
  outbox: Outbox,
  storage: () => SyncStorage | undefined = defaultLocalStorage,
): InstallIdStore {
  const key = installIdKey(name);
  return () => {
    const local = readItem(storage, key);
    if (isInstallId(local)) return local;
    return loadInstallId(outbox).then((id) => {
      try {
        storage()?.setItem(key, id);
      } catch {
        // No copy this time: the next load reads the outbox state again.
      }
      return id;
    });
  };
}
