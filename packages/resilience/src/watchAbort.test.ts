import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep } from './abort.js';
import { constantBackoff } from './backoff.js';
import { bulkhead } from './BulkheadPolicy.js';
import { ConfigError, TaskCancelledError } from './errors.js';
import { faultInjection } from './FaultInjectionPolicy.js';
import { retry } from './RetryPolicy.js';
import { timeout } from './TimeoutPolicy.js';
import { watchAbort } from './watchAbort.js';
import { wrap } from './wrap.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('watchAbort', () => {
  it('runs every watcher once, in the order they began, behind one listener; unwatching removes it', () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const stopA = watchAbort(controller.signal, () => seen.push('a'));
    const stopB = watchAbort(controller.signal, () => seen.push('b'));
    const stopC = watchAbort(controller.signal, () => seen.push('c'));
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    stopB();
    stopB(); // twice is harmless
    controller.abort('why');
    controller.abort('again');
    expect(seen).toEqual(['a', 'c']);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    stopA(); // after the abort: a no-op
    stopC();
    const other = new AbortController();
    const stop = watchAbort(other.signal, () => seen.push('never'));
    stop();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    other.abort();
    expect(seen).toEqual(['a', 'c']);
  });

  it("a watcher that throws does not keep the others from running; its error is reported as a listener's would be", async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const reported: unknown[] = [];
    const onError = (error: unknown) => reported.push(error);
    process.on('uncaughtException', onError);
    const vitestListeners = process.listeners('uncaughtException').filter((l) => l !== onError);
    for (const l of vitestListeners) process.off('uncaughtException', l);
    try {
      watchAbort(controller.signal, () => {
        throw new Error('boom');
      });
      watchAbort(controller.signal, () => seen.push('after'));
      controller.abort();
      expect(seen).toEqual(['after']);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(reported).toEqual([expect.objectContaining({ message: 'boom' })]);
    } finally {
      process.off('uncaughtException', onError);
      for (const l of vitestListeners) process.on('uncaughtException', l);
    }
  });

  it('skips a watcher that an earlier one stops during the abort, as EventTarget would', () => {
    // What EventTarget does with a listener removed during dispatch: it does not run.
    const target = new EventTarget();
    let listenerRan = false;
    const listener = (): void => void (listenerRan = true);
    target.addEventListener('x', () => target.removeEventListener('x', listener));
    target.addEventListener('x', listener);
    target.dispatchEvent(new Event('x'));
    expect(listenerRan).toBe(false);

    const controller = new AbortController();
    const seen: string[] = [];
    const stops: (() => void)[] = [];
    stops.push(watchAbort(controller.signal, () => stops[1]!()));
    stops.push(watchAbort(controller.signal, () => seen.push('b')));
    stops.push(watchAbort(controller.signal, () => seen.push('c')));
    controller.abort();
    expect(seen).toEqual(['c']);
    for (const stop of stops) stop(); // all spent: no-ops
  });

  it('throws a ConfigError (kind config) for what is not a signal, registering nothing', () => {
    for (const bad of [null, undefined, 5, 'signal', {}, { aborted: false }]) {
      expect(() => watchAbort(bad as unknown as AbortSignal, () => {})).toThrow(ConfigError);
    }
  });

  it('throws a ConfigError for a callback that is not a function, at once rather than when the signal aborts', () => {
    const controller = new AbortController();
    for (const bad of [undefined, null, 'oops', 5, {}]) {
      expect(() => watchAbort(controller.signal, bad as unknown as () => void)).toThrow(
        expect.objectContaining({ kind: 'config', option: 'onAbort' }),
      );
    }
    // Nothing was registered: the abort runs no callback and throws nowhere.
    const seen: string[] = [];
    watchAbort(controller.signal, () => seen.push('ok'));
    controller.abort();
    expect(seen).toEqual(['ok']);
  });
});

describe('many calls on one caller signal (a shutdown or request signal)', () => {
  it('put one listener on it, print no MaxListenersExceededWarning, and all end when it aborts', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const controller = new AbortController();
    try {
      // Cooperative code: it ends when its signal aborts (watched the same way, or the test's
      // own listeners on the caller's signal would pass Node's threshold).
      const untilAborted = (signal: AbortSignal) =>
        new Promise<never>((_resolve, reject) => watchAbort(signal, () => reject(signal.reason)));
      const policies = [
        timeout(60_000),
        timeout(60_000, { strategy: 'cooperative' }),
        wrap(retry({ maxAttempts: 5, backoff: constantBackoff(60_000) }), timeout(60_000)),
        bulkhead({ maxConcurrent: 1, maxQueue: 100 }),
        faultInjection({ latency: { rate: 1, ms: 60_000 } }),
      ];
      const calls: Promise<unknown>[] = [];
      for (const policy of policies) {
        for (let i = 0; i < 50; i++) {
          calls.push(
            policy.execute((ctx) => {
              if (policy === policies[2] && ctx.attempt === 0) {
                throw Object.assign(new Error('retry me'), { code: 'ECONNRESET' });
              }
              return untilAborted(ctx.signal);
            }, controller.signal),
          );
        }
      }
      calls.push(...Array.from({ length: 50 }, () => sleep(60_000, controller.signal)));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      controller.abort('shutting down');
      const results = await Promise.allSettled(calls);
      const rejected = results.filter((r) => r.status === 'rejected');
      expect(rejected).toHaveLength(calls.length);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      for (const r of rejected) {
        const reason = (r as PromiseRejectedResult).reason as unknown;
        expect(reason instanceof TaskCancelledError || reason === 'shutting down').toBe(true);
      }
    } finally {
      process.off('warning', onWarning);
    }
  });
});
