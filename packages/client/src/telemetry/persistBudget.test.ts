import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { clientFor, Sink, testPlatform, until } from './telemetry.test-helpers.js';

/** A memory outbox whose `persist()` waits until `finish()`: a slow disk, or a very large write. */
function slowToStore(): { outbox: Outbox; finish: () => void } {
  const base = createMemoryOutbox();
  let finish = (): void => {};
  const stored = new Promise<void>((resolve) => (finish = resolve));
  const outbox = new Proxy(base, {
    get(target, key) {
      if (key === 'persist') return () => stored.then(() => target.persist());
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { outbox, finish };
}

/** Resolves 'late' after `ms` unless `work` settled first ('done'). */
function raceWith(work: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  return Promise.race([work.then(() => 'done' as const), late]).finally(() => clearTimeout(timer));
}

/**
 * flush() and shutdown() store what was tracked before they send, within their budget: a write
 * that takes longer (100 000 events just tracked, a slow disk) goes on in the background instead
 * of stretching a short budget to its length.
 */
describe('the wait for the storage is bounded by the budget', () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(() => sink.down());

  it('flush({ timeoutMs }) answers within its budget while the write goes on; the events still go out', async () => {
    const { outbox, finish } = slowToStore();
    const t = clientFor(sink, { storage: outbox, delivery: { intervalMs: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) t.track('slow.disk', { i });
      const flushed = t.flush({ timeoutMs: 200 });
      // Generous: the write never ends by itself here.
      expect(await raceWith(flushed, 3_000)).toBe('done');
      await until(() => sink.acceptedUuids.length >= 3, 10_000, 'the events to be sent');
    } finally {
      finish();
      await t.shutdown({ timeoutMs: 2_000 });
      await outbox.close();
    }
  });

  it("shutdown({ timeoutMs }) with the app's own outbox answers within its budget; the exit hook that writes it stays until the write ends", async () => {
    const { outbox, finish } = slowToStore();
    const exitNow = new Set<() => void>();
    const platform = testPlatform({
      onExitNow: (listener) => {
        exitNow.add(listener);
        return () => exitNow.delete(listener);
      },
    });
    const refusing = await Sink.start(() => ({ status: 503 }));
    try {
      const t = clientFor(refusing, { storage: outbox, platform, delivery: { intervalMs: 60_000 } });
      for (let i = 0; i < 3; i++) t.track('slow.disk', { i });
      // The features' last flush, and the client's write of what is in memory.
      expect(exitNow.size).toBe(2);
      expect(await raceWith(t.shutdown({ timeoutMs: 200 }), 3_000)).toBe('done');
      // Not sent (503), not lost: in the outbox, which the app still holds open.
      expect((await outbox.size()).events).toBe(3);
      expect(exitNow.size).toBe(1);
      finish();
      await until(() => exitNow.size === 0, 5_000, 'the exit hook to go once the write ended');
    } finally {
      finish();
      await outbox.close();
      await refusing.down();
    }
  });

  it('an event tracked after the exit hook ran whose write throws is queued once, not also counted invalid', async () => {
    const base = createMemoryOutbox();
    const outbox = new Proxy(base, {
      get(target, key) {
        if (key === 'persistOnExit')
          return () => {
            throw new Error('EIO: i/o error, write');
          };
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const exitNow = new Set<() => void>();
    const platform = testPlatform({
      onExitNow: (listener) => {
        exitNow.add(listener);
        return () => exitNow.delete(listener);
      },
    });
    // Refusing: nothing leaves the outbox while the test counts it.
    const sink = await Sink.start(() => ({ status: 503 }));
    const warnings: string[] = [];
    try {
      const t = clientFor(sink, {
        storage: outbox,
        platform,
        delivery: { intervalMs: 60_000 },
        logger: { debug() {}, error() {}, warn: (m: string) => void warnings.push(m) },
      });
      t.track('before.exit');
      await until(async () => (await t.stats()).queued === 1, 5_000, 'the install id, and the event queued');
      for (const listener of [...exitNow]) {
        try {
          listener();
        } catch {}
      }
      // An app's own exit listener, after ours: nothing asynchronous runs any more.
      t.track('in.exit.listener');
      const stats = await t.stats();
      expect(stats.dropped.invalid).toBe(0);
      expect(stats).toMatchObject({ tracked: 2, queued: 2 });
      expect((await base.size()).events).toBe(2);
      expect(warnings).toContain('persist at exit failed');
      await t.shutdown({ timeoutMs: 500 });
    } finally {
      await sink.down();
      await base.close();
    }
  });
});
