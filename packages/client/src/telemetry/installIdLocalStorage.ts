import type { Outbox } from '../outbox/outbox.js';
import type { InstallIdStore } from './installId.js';
import { INSTALL_ID_STATE_KEY, isInstallId, loadInstallId } from './installId.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import { defaultLocalStorage, readItem, type SyncStorage } from './localStorageAccess.js';

/** The localStorage key of the install id of the outbox called `name`. */
export function installIdKey(name: string): string {
  return `homing:${name}:install-id`;
}

/**
 * Browsers: the install id kept in localStorage, which a page reads and writes synchronously, so
 * events tracked right after `createTelemetry` are built at once instead of waiting in memory
 * for IndexedDB: a page that navigated away within those milliseconds lost them, on a first
 * visit too. A first visit makes the id here, synchronously, when localStorage takes it (read
 * back, so two tabs opened at once mostly settle on the last one written), and copies it into
 * the outbox state, which is where a load without usable localStorage (disabled, full, a
 * sandboxed frame) reads or creates it.
 *
 * The copy in localStorage wins over the outbox state: an id only in the outbox state (made by a
 * worker of the origin, which has no localStorage, before any page of it tracked) is replaced by
 * the page's, which the worker then reads at its next start: the worker's events until then
 * went out under an id of their own. Waiting to read the state first would hold every page's
 * first events in memory until IndexedDB answers.
 */
export function installIdLocalStorage(
  name: string,
  outbox: Outbox,
  storage: () => SyncStorage | undefined = defaultLocalStorage,
): InstallIdStore {
  const key = installIdKey(name);
  const replace = async (id: string | undefined): Promise<void> => {
    try {
      if (id === undefined) storage()?.removeItem(key);
      else storage()?.setItem(key, id);
    } catch {
      // Unusable (disabled, full): the outbox state below is where a next load reads it then.
    }
    await outbox.setState(INSTALL_ID_STATE_KEY, id);
  };
  const store = (syncOnly?: boolean, own?: string): string | Promise<string> | undefined => {
    const local = readItem(storage, key);
    if (isInstallId(local)) return local;
    // `own`: this run's id, to keep when none is (see InstallIdStore), not a new one beside it.
    const made = keepItem(storage, key, isInstallId(own) ? own : uuidv7());
    if (made !== undefined) {
      outbox.setState(INSTALL_ID_STATE_KEY, made).catch(() => {
        // The copy in localStorage is the one pages read; the outbox state is the fallback.
      });
      return made;
    }
    if (syncOnly) return undefined;
    return loadInstallId(outbox, undefined, undefined, own).then((id) => {
      keepItem(storage, key, id);
      return id;
    });
  };
  return Object.assign(store, { replace });
}

/** Writes `value` and reads it back: the value now kept (another tab's, in a race), or undefined. */
function keepItem(storage: () => SyncStorage | undefined, key: string, value: string): string | undefined {
  try {
    storage()?.setItem(key, value);
  } catch {
    return undefined;
  }
  const kept = readItem(storage, key);
  return isInstallId(kept) ? kept : undefined;
}
