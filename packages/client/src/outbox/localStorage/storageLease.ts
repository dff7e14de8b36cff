import type { LeaseStore } from '../indexeddb/deliveryLock.js';
import type { StorageLike } from '../localStorage.js';

/**
 * The delivery lease as one localStorage key with an expiry, where Web Locks are missing.
 * localStorage cannot compare-and-set: two tabs that both see the lease free both write it,
 * so each looks again a turn later and only the one whose write stayed holds it.
 */
export function storageLeaseStore(storage: StorageLike, key: string): LeaseStore {
  const read = (): { owner?: unknown; expiresAtMs?: unknown } | null => {
    try {
      return JSON.parse(storage.getItem(key) ?? 'null') as { owner?: unknown; expiresAtMs?: unknown } | null;
    } catch {
      return null;
    }
  };
  return {
    async take(owner, nowMs, expiresAtMs) {
      const lease = read();
      const free =
        lease === null ||
        lease.owner === owner ||
        typeof lease.expiresAtMs !== 'number' ||
        lease.expiresAtMs <= nowMs;
      if (!free) return false;
      storage.setItem(key, JSON.stringify({ owner, expiresAtMs }));
      await new Promise((resolve) => setTimeout(resolve, 0));
      return read()?.owner === owner;
    },
    async drop(owner) {
      if (read()?.owner === owner) storage.removeItem(key);
    },
  };
}
