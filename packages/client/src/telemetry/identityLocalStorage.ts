import type { Outbox } from '../outbox/outbox.js';
import { type IdentityStore, isKeptIdentity, outboxIdentityStore } from './identityStore.js';
import { defaultLocalStorage, readItem, type SyncStorage } from './localStorageAccess.js';

/** The localStorage key of the identity of the outbox called `name`. */
export function identityKey(name: string): string {
  return `homing:${name}:identity`;
}

/**
 * Browsers: the identity in localStorage, read synchronously so a page's first events are
 * already about the user. Without usable localStorage it lives in the outbox state instead
 * (read when the client starts; events tracked before wait for it there).
 */
export function identityLocalStorage(
  name: string,
  outbox: Outbox,
  storage: () => SyncStorage | undefined = defaultLocalStorage,
): IdentityStore {
  const key = identityKey(name);
  const fallback = outboxIdentityStore(outbox);
  const usable = (): SyncStorage | undefined => {
    try {
      const s = storage();
      // Probing with a read: a blocked storage throws here rather than at the write.
      s?.getItem(key);
      return s;
    } catch {
      return undefined;
    }
  };
  return {
    read() {
      if (usable() === undefined) return fallback.read();
      const kept = readItem(storage, key);
      return isKeptIdentity(kept) ? kept : undefined;
    },
    async write(id) {
      const s = usable();
      if (s === undefined) return fallback.write(id);
      try {
        if (id === undefined) s.removeItem(key);
        else s.setItem(key, id);
      } catch {
        // Full or blocked since: no stale copy left behind; this run keeps the id in memory.
        try {
          s.removeItem(key);
        } catch {}
      }
    },
  };
}
