import { afterEach, describe, expect, it } from 'vitest';
import { FakeLocks } from './indexeddb/fakeLocks.test-helpers.js';
import { createLocalStorageOutbox } from './localStorage.js';
import type { LocalStorageOutbox } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';

const LOCK = 'homing-outbox:default:delivery';

/**
 * An outbox lets its delivery lock go when it has nothing claimed (so an idle tab lets another
 * deliver). That decision and the release are separated by the lock's own awaits: a claim that
 * lands in between must not keep a batch while the lock is gone, or another tab claims the same
 * records and acks from its own copy at the same time.
 */
describe('LocalStorageOutbox, a claim racing an idle release', () => {
  const open: LocalStorageOutbox[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it.each([0, 1, 2, 3, 4, 5, 6, 8, 10, 14])(
    'never keeps a claimed batch without the lock (claim started after %i microtasks)',
    async (delay) => {
      const storage = new MemoryStorage();
      const locks = new FakeLocks();
      const o = createLocalStorageOutbox({ storage, locks, flushOnHide: false });
      open.push(o);
      o.append(makeRecords(5));
      await o.persist();
      // Nothing claimed: size() takes the lock and lets it go as it finishes.
      const sizing = o.size();
      for (let i = 0; i < delay; i++) await Promise.resolve();
      const batch = await o.claim(100, Infinity);
      await sizing;
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (batch !== null) expect(locks.held.has(LOCK)).toBe(true);
    },
  );
});
