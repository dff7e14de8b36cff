import type { Outbox } from '../outbox/outbox.js';
import { type IdentityStore, isKeptIdentity, outboxIdentityStore } from './identityStore.js';
import { defaultLocalStorage, type SyncStorage } from './localStorageAccess.js';

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
  return {
    read() {
      let kept: string | null;
      try {
        const s = storage();
        if (s === undefined) return fallback.read();
        kept = s.getItem(key);
      } catch {
        // Blocked storage throws on access: the outbox state keeps it instead.
        return fallback.read();
      }
      return isKeptIdentity(kept) ? kept : undefined;
    },
    async write(id) {
      let s: SyncStorage | undefined;
      try {
        s = storage();
        s?.getItem(key);
      } catch {
        s = undefined;
      }
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
