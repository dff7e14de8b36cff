/**
 * The generic platform (workers, edge runtimes) and `navigator.onLine`. On the code before it was
 * always online: a worker kept sending while offline, counted failed attempts, opened its
 * breaker, and once the network was back waited out the half-open delay.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Sink, until } from '../delivery/delivery.test-helpers.js';
import { createTelemetry } from '../index.js';
import { createGenericPlatform, ONLINE_POLL_MS } from './generic.js';

/** A worker's global scope, as far as online status goes: `navigator.onLine` and its events. */
function workerScope(onLine?: boolean): { scope: EventTarget; navigator: { onLine?: boolean } } {
  const scope = new EventTarget();
  const navigator: { onLine?: boolean } = onLine === undefined ? {} : { onLine };
  vi.stubGlobal('navigator', navigator);
  vi.stubGlobal('addEventListener', scope.addEventListener.bind(scope));
  vi.stubGlobal('removeEventListener', scope.removeEventListener.bind(scope));
  return { scope, navigator };
}

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('generic platform: online status', () => {
  it('is offline only while navigator.onLine is false', () => {
    const { navigator } = workerScope(true);
    const p = createGenericPlatform();
    expect(p.isOnline()).toBe(true);
    navigator.onLine = false;
    expect(p.isOnline()).toBe(false);
    delete navigator.onLine;
    expect(p.isOnline()).toBe(true);
    vi.stubGlobal('navigator', undefined);
    expect(p.isOnline()).toBe(true);
  });

  it('follows the online/offline events of the global scope, each change once, until unsubscribed', () => {
    const { scope, navigator } = workerScope(true);
    const p = createGenericPlatform();
    const seen: boolean[] = [];
    const off = p.onOnlineChange((online) => seen.push(online));
    navigator.onLine = false;
    scope.dispatchEvent(new Event('offline'));
    scope.dispatchEvent(new Event('offline'));
    navigator.onLine = true;
    scope.dispatchEvent(new Event('online'));
    off();
    scope.dispatchEvent(new Event('offline'));
    expect(seen).toEqual([false, true]);
  });

  it('reads navigator.onLine every ONLINE_POLL_MS, for workers whose runtime fires no event (Chromium)', () => {
    vi.useFakeTimers();
    const { navigator } = workerScope(true);
    const p = createGenericPlatform();
    const seen: boolean[] = [];
    const off = p.onOnlineChange((online) => seen.push(online));
    navigator.onLine = false;
    vi.advanceTimersByTime(ONLINE_POLL_MS);
    expect(seen).toEqual([false]);
    vi.advanceTimersByTime(5 * ONLINE_POLL_MS);
    navigator.onLine = true;
    vi.advanceTimersByTime(ONLINE_POLL_MS);
    expect(seen).toEqual([false, true]);
    off();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a change isOnline() read before the poll, so the return between two polls is reported too', async () => {
    vi.useFakeTimers();
    const { navigator } = workerScope(true);
    const p = createGenericPlatform();
    const seen: boolean[] = [];
    const off = p.onOnlineChange((online) => seen.push(online));
    navigator.onLine = false;
    // Delivery asks before it sends; the poll has not run since the network went.
    expect(p.isOnline()).toBe(false);
    await Promise.resolve();
    expect(seen).toEqual([false]);
    navigator.onLine = true;
    vi.advanceTimersByTime(ONLINE_POLL_MS);
    expect(seen).toEqual([false, true]);
    off();
  });

  it('where onLine is unknown (edge runtimes, no global events): always online, no timer', () => {
    vi.useFakeTimers();
    vi.stubGlobal('navigator', {});
    const p = createGenericPlatform();
    const off = p.onOnlineChange(() => {
      throw new Error('never called');
    });
    expect(vi.getTimerCount()).toBe(0);
    expect(p.isOnline()).toBe(true);
    off();
  });

  it('a client in a worker holds its events while offline, with no failed attempt, and sends them on online', async () => {
    const { scope, navigator } = workerScope(false);
    const sink = await Sink.start();
    try {
      // No window or document here: the default platform is the generic one.
      const client = createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        storage: 'memory',
        delivery: { intervalMs: 20 },
      });
      for (let i = 0; i < 3; i++) client.track('offline.event', { i });
      const offline = await client.flush({ timeoutMs: 500 });
      expect(offline.sent).toBe(0);
      await new Promise((r) => setTimeout(r, 200));
      const stats = await client.stats();
      expect(stats.failedAttempts).toBe(0);
      expect(Object.values(stats.breakers).map((b) => b.state)).toEqual(['closed']);
      expect(sink.requests).toEqual([]);

      navigator.onLine = true;
      scope.dispatchEvent(new Event('online'));
      await until(() => sink.acceptedUuids.length === 3, 10_000, 'the events sent once online');
      expect((await client.stats()).failedAttempts).toBe(0);
      await client.shutdown({ timeoutMs: 2_000 });
    } finally {
      await sink.down();
    }
  });
});
