import { describe, expect, it } from 'vitest';
import type { LeaseStore, LockManagerLike } from './deliveryLock.js';
import { LeaseDeliveryLock, WebLockDeliveryLock } from './deliveryLock.js';
import { FakeLocks } from './fakeLocks.test-helpers.js';

function memoryLeases(): LeaseStore & { lease: { owner: string; expiresAtMs: number } | null } {
  const store = {
    lease: null as { owner: string; expiresAtMs: number } | null,
    async take(owner: string, nowMs: number, expiresAtMs: number) {
      if (store.lease !== null && store.lease.owner !== owner && store.lease.expiresAtMs > nowMs)
        return false;
      store.lease = { owner, expiresAtMs };
      return true;
    },
    async drop(owner: string) {
      if (store.lease?.owner === owner) store.lease = null;
    },
  };
  return store;
}

describe('WebLockDeliveryLock', () => {
  it('is held by one holder at a time, and can be taken again right after release', async () => {
    const locks = new FakeLocks();
    const a = new WebLockDeliveryLock(locks, 'x');
    const b = new WebLockDeliveryLock(locks, 'x');
    const [first, again] = await Promise.all([a.acquire(), a.acquire()]);
    expect([first, again]).toEqual([true, true]);
    expect(await b.acquire()).toBe(false);
    await a.release();
    // release() waits until the lock is really free: b gets it at once.
    expect(await b.acquire()).toBe(true);
    expect(await a.acquire()).toBe(false);
    await b.release();
    await b.release();
  });

  it('keeps the lock when release is told to keep it on the turn it would go', async () => {
    const locks = new FakeLocks();
    const a = new WebLockDeliveryLock(locks, 'x');
    const b = new WebLockDeliveryLock(locks, 'x');
    expect(await a.acquire()).toBe(true);
    let busy = false;
    const releasing = a.release(() => busy);
    busy = true; // became busy after deciding to let go, before the lock's own wait ended
    await releasing;
    expect(a.held).toBe(true);
    expect(await b.acquire()).toBe(false);
    await a.release(() => false);
    expect(await b.acquire()).toBe(true);
    await b.release();
  });

  it('answers false, never throws, when the lock manager refuses', async () => {
    const throwing: LockManagerLike = {
      request() {
        throw new DOMException('opaque origin', 'SecurityError');
      },
    };
    const rejecting: LockManagerLike = { request: () => Promise.reject(new Error('no')) };
    expect(await new WebLockDeliveryLock(throwing, 'x').acquire()).toBe(false);
    expect(await new WebLockDeliveryLock(rejecting, 'x').acquire()).toBe(false);
  });
});

describe('LeaseDeliveryLock', () => {
  it('keeps others out until the lease expires, and lets go on release', async () => {
    const store = memoryLeases();
    let now = 1_000_000;
    const a = new LeaseDeliveryLock({ store, owner: 'a', leaseMs: 1000, now: () => now });
    const b = new LeaseDeliveryLock({ store, owner: 'b', leaseMs: 1000, now: () => now });
    expect(await a.acquire()).toBe(true);
    expect(await b.acquire()).toBe(false);
    now += 1001; // a stopped renewing (its timer never ran: a frozen or closed tab)
    expect(await b.acquire()).toBe(true);
    expect(await a.acquire()).toBe(false);
    expect(a.held).toBe(false);
    await b.release();
    expect(store.lease).toBeNull();
    expect(await a.acquire()).toBe(true);
    await a.release();
  });

  it('keeps the lease, and renews it, when release is told to keep it', async () => {
    const store = memoryLeases();
    const a = new LeaseDeliveryLock({ store, owner: 'a', leaseMs: 60, now: Date.now });
    const b = new LeaseDeliveryLock({ store, owner: 'b', leaseMs: 60, now: Date.now });
    expect(await a.acquire()).toBe(true);
    await a.release(() => true);
    expect(a.held).toBe(true);
    // Still renewed by its timer: past two lease lengths b still cannot take it.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await b.acquire()).toBe(false);
    await a.release();
    expect(store.lease).toBeNull();
    expect(await b.acquire()).toBe(true);
    await b.release();
  });

  it('answers false when the store fails', async () => {
    const store: LeaseStore = { take: () => Promise.reject(new Error('io')), drop: () => Promise.resolve() };
    const lock = new LeaseDeliveryLock({ store, owner: 'a', leaseMs: 1000, now: Date.now });
    expect(await lock.acquire()).toBe(false);
    await lock.release();
  });
});
