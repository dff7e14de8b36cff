import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Delivery } from '../delivery/Delivery.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { clientFor, Sink } from './telemetry.test-helpers.js';

/**
 * A memory outbox whose `persist()` waits until `finish()` (a slow disk, or a very large write)
 * and calls `onPersist` as it starts waiting.
 */
function slowToStore(onPersist: () => void): { outbox: Outbox; finish: () => void } {
  const base = createMemoryOutbox();
  let finish = (): void => {};
  const stored = new Promise<void>((resolve) => (finish = resolve));
  const outbox = new Proxy(base, {
    get(target, key) {
      if (key === 'persist')
        return () => {
          onPersist();
          return stored.then(() => target.persist());
        };
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { outbox, finish };
}

/** Date.now() from here on is the real time plus an offset the test sets (a stepped system clock). */
function steppableWallClock(): { step: (byMs: number) => void } {
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
  return { step: (byMs) => void (offsetMs += byMs) };
}

const HOUR_MS = 3_600_000;

/**
 * flush() and shutdown() budgets are durations: the part left for delivery after the wait for
 * the storage is measured on a monotonic clock. On the wall clock, stepped back an hour during
 * that wait, a 200 ms budget handed delivery an hour.
 */
describe('the budget left for delivery after the storage wait', () => {
  let refusing: Sink;
  beforeAll(async () => {
    refusing = await Sink.start(() => ({ status: 503 }));
  });
  afterAll(() => refusing.down());
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('flush({ timeoutMs }) hands delivery no more than what is left of timeoutMs', async () => {
    const wall = steppableWallClock();
    // The clock steps an hour back while flush waits for the write.
    const { outbox, finish } = slowToStore(() => wall.step(-HOUR_MS));
    const t = clientFor(refusing, { storage: outbox, delivery: { intervalMs: 60_000 } });
    const budgets: number[] = [];
    const flush = Delivery.prototype.flush;
    vi.spyOn(Delivery.prototype, 'flush').mockImplementation(function (this: Delivery, timeoutMs: number) {
      budgets.push(timeoutMs);
      return flush.call(this, timeoutMs);
    });
    try {
      t.track('slow.disk');
      await t.flush({ timeoutMs: 200 });
      expect(budgets).toHaveLength(1);
      expect(budgets[0]).toBeLessThanOrEqual(200);
    } finally {
      vi.restoreAllMocks();
      finish();
      await t.shutdown({ timeoutMs: 0 });
      await outbox.close();
    }
  });

  it('shutdown({ timeoutMs }) hands delivery no more than what is left of timeoutMs', async () => {
    const wall = steppableWallClock();
    // The clock steps an hour back while shutdown waits for the write, which then ends.
    let finish = (): void => {};
    const slow = slowToStore(() => {
      wall.step(-HOUR_MS);
      setTimeout(() => finish(), 20);
    });
    finish = slow.finish;
    const outbox = slow.outbox;
    const t = clientFor(refusing, { storage: outbox, delivery: { intervalMs: 60_000 } });
    const budgets: number[] = [];
    const shutdown = Delivery.prototype.shutdown;
    vi.spyOn(Delivery.prototype, 'shutdown').mockImplementation(function (this: Delivery, timeoutMs: number) {
      budgets.push(timeoutMs);
      return shutdown.call(this, timeoutMs);
    });
    try {
      t.track('slow.disk');
      await t.shutdown({ timeoutMs: 200 });
      expect(budgets).toHaveLength(1);
      expect(budgets[0]).toBeLessThanOrEqual(200);
    } finally {
      vi.restoreAllMocks();
      finish();
      await outbox.close();
    }
  });
});
