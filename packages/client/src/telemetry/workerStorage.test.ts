/**
 * The default storage of the browser entry outside a page: IndexedDB wherever it exists (every
 * kind of worker), memory elsewhere (edge runtimes). On the code before it was memory for
 * anything but a page: a worker lost, uncounted, what it held when the browser stopped it, and
 * made a new anonymous install id at each start. Here the worker is this process: no window, no
 * document, no localStorage, and `fake-indexeddb` as its IndexedDB.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.js';
import type { HomingEvent } from '../event.js';
import { browserRuntime } from './runtime.browser.js';
import { testPlatform } from './telemetry.test-helpers.js';

const g = globalThis as { indexedDB?: unknown };
const realIndexedDB = g.indexedDB;

afterEach(() => {
  Object.defineProperty(globalThis, 'indexedDB', {
    value: realIndexedDB,
    configurable: true,
    writable: true,
    enumerable: true,
  });
});

describe('the default storage outside a page', () => {
  it('is IndexedDB wherever it exists, memory where it does not', () => {
    const worker = { ...testPlatform(), name: 'other' as const };
    expect(browserRuntime.defaultStorage(worker)).toBe('indexeddb');
    expect(browserRuntime.defaultStorage({ ...testPlatform(), name: 'browser' })).toBe('indexeddb');
    delete g.indexedDB;
    expect(browserRuntime.defaultStorage(worker)).toBe('memory');
    Object.defineProperty(globalThis, 'indexedDB', {
      configurable: true,
      get() {
        throw new DOMException('denied', 'SecurityError');
      },
    });
    expect(browserRuntime.defaultStorage(worker)).toBe('memory');
  });

  it("keeps a worker's events for its next start, under one install id", async () => {
    const name = `worker-${process.pid}-${Date.now()}`;
    const first = createTelemetry({
      name,
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            throw new Error('the endpoint is down');
          },
        },
      ],
      delivery: { intervalMs: 60_000 },
    });
    first.track('before.stop', { i: 1 });
    first.track('before.stop', { i: 2 });
    await first.persist();
    await first.shutdown({ timeoutMs: 200 });

    const received: HomingEvent[] = [];
    const next = createTelemetry({
      name,
      endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
      delivery: { intervalMs: 60_000 },
    });
    next.track('after.start');
    const result = await next.flush({ timeoutMs: 10_000 });
    await next.shutdown({ timeoutMs: 2_000 });
    expect(result).toEqual({ sent: 3, pending: 0, timedOut: false });
    expect(received.map((e) => e.event).sort()).toEqual(['after.start', 'before.stop', 'before.stop']);
    expect(new Set(received.map((e) => e.distinct_id)).size).toBe(1);
  });
});
