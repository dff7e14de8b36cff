import type { LeaseStore } from './deliveryLock.js';
import { quiet } from './recordStore.js';
import type { OutboxDatabase } from './schema.js';
import { LEASE_KEY, WRITE } from './schema.js';

/** The delivery lease in the `meta` store: checked and taken in one transaction, so it is atomic across tabs. */
export function idbLeaseStore(database: () => Promise<OutboxDatabase>): LeaseStore {
  return {
    async take(owner, nowMs, expiresAtMs) {
      const db = await database();
      const tx = db.transaction('meta', 'readwrite', WRITE);
      // A failed read aborts the transaction: `done` rejects too, and must not go unhandled.
      quiet(tx.done);
      const meta = tx.objectStore('meta');
      const lease = (await meta.get(LEASE_KEY)) as { owner?: unknown; expiresAtMs?: unknown } | undefined;
      const free =
        lease === undefined ||
        lease === null ||
        lease.owner === owner ||
        typeof lease.expiresAtMs !== 'number' ||
        lease.expiresAtMs <= nowMs;
      if (free) quiet(meta.put({ owner, expiresAtMs }, LEASE_KEY));
      await tx.done;
      return free;
    },
    async drop(owner) {
      const db = await database();
      const tx = db.transaction('meta', 'readwrite', WRITE);
      quiet(tx.done);
      const meta = tx.objectStore('meta');
      const lease = (await meta.get(LEASE_KEY)) as { owner?: unknown } | undefined;
      if (lease?.owner === owner) quiet(meta.delete(LEASE_KEY));
      await tx.done;
    },
  };
}
