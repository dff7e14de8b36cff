import type { Outbox } from '../outbox/outbox.js';
import { type IdentityStore, isKeptIdentity, outboxIdentityStore } from './identityStore.js';
import { defaultLocalStorage, type SyncStorage } from './localStorageAccess.js';

/** The localStorage key of the identity of the outbox called `name`. */
export function identityKey(name: string): string {
  return `homing:${name}:identity`;
}

/** The localStorage key of the copy of the consent remembered by the outbox called `name`. */
export function consentCopyKey(name: string): string {
  return `homing:${name}:consent`;
}

/**
 * Browsers: the identity in localStorage, read synchronously so a page's first events are
 * already about the user. Without usable localStorage it lives in the outbox state instead
 * (read when the client starts; events tracked before wait for it there).
 *
 * It also keeps a copy of the remembered consent there: the outbox (IndexedDB) answers only
 * after the install id, which localStorage makes synchronously, would have been made, and no
 * identifier may be stored on a device whose user said no.
 */
export function identityLocalStorage(
  name: string,
  outbox: Outbox,
  storage: () => SyncStorage | undefined = defaultLocalStorage,
): IdentityStore {
  const key = identityKey(name);
  const consentKey = consentCopyKey(name);
  const fallback = outboxIdentityStore(outbox);
  return {
    rememberedConsentNow() {
      // Unusable storage throws: neither the copy nor the install id can be read now.
      const s = storage();
      if (s === undefined) throw new Error('localStorage is not usable here');
      return s.getItem(consentKey) ?? undefined;
    },
    keepConsentCopy(state) {
      try {
        storage()?.setItem(consentKey, state);
      } catch {
        // Full or blocked: no stale copy left behind; the outbox state stays the record.
        try {
          storage()?.removeItem(consentKey);
        } catch {}
      }
    },
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
