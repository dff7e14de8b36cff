import type { LockManagerLike } from './deliveryLock.js';

/** Web Locks with `ifAvailable`, as the browser does it (held until the callback's promise settles). */
export class FakeLocks implements LockManagerLike {
  readonly held = new Set<string>();
  async request(name: string, _options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown) {
    if (this.held.has(name)) return callback(null);
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      // The browser frees the lock a turn after the callback settles.
      await new Promise((resolve) => setTimeout(resolve, 1));
      this.held.delete(name);
    }
  }
}
