import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { BrowserGlobals } from './browser.js';
import { createBrowserPlatform, UNLOAD_CONTENT_TYPE } from './browser.js';

class FakeDocument extends EventTarget {
  visibilityState = 'visible';
}

function fakeGlobals(extra: Partial<BrowserGlobals> = {}) {
  const window = new EventTarget();
  const document = new FakeDocument();
  const navigator: { onLine: boolean; sendBeacon?: (url: string, data: Blob) => boolean } = { onLine: true };
  const globals: BrowserGlobals = { window, document, navigator, CompressionStream, ...extra };
  return { globals, window, document, navigator };
}

describe('browser platform', () => {
  it('follows navigator.onLine and the online/offline events, until unsubscribed', () => {
    const { globals, window, navigator } = fakeGlobals();
    const p = createBrowserPlatform({ globals });
    expect(p.name).toBe('browser');
    expect(p.env('HOME')).toBeUndefined();
    expect(p.isOnline()).toBe(true);
    navigator.onLine = false;
    expect(p.isOnline()).toBe(false);
    const seen: boolean[] = [];
    const off = p.onOnlineChange((online) => seen.push(online));
    window.dispatchEvent(new Event('offline'));
    window.dispatchEvent(new Event('online'));
    off();
    window.dispatchEvent(new Event('offline'));
    expect(seen).toEqual([false, true]);
  });

  it('calls the exit hook on pagehide and on visibilitychange to hidden (not to visible)', () => {
    const { globals, window, document } = fakeGlobals();
    const p = createBrowserPlatform({ globals });
    let calls = 0;
    const off = p.onExit(() => {
      calls++;
      throw new Error('never into the page');
    });
    document.dispatchEvent(new Event('visibilitychange'));
    expect(calls).toBe(0);
    document.visibilityState = 'hidden';
    document.dispatchEvent(new Event('visibilitychange'));
    window.dispatchEvent(new Event('pagehide'));
    expect(calls).toBe(2);
    off();
    window.dispatchEvent(new Event('pagehide'));
    expect(calls).toBe(2);
  });

  it('sends unload beacons as text/plain (no CORS preflight), whatever headers are asked for', async () => {
    const { globals, navigator } = fakeGlobals();
    const beacons: Array<{ url: string; data: Blob }> = [];
    navigator.sendBeacon = (url, data) => {
      beacons.push({ url, data });
      return true;
    };
    const p = createBrowserPlatform({ globals });
    expect(p.sendOnUnload!('https://h/ingest', '{"a":1}', { 'content-type': 'application/json' })).toBe(true);
    expect(beacons[0]!.url).toBe('https://h/ingest');
    expect(beacons[0]!.data.type).toBe(UNLOAD_CONTENT_TYPE.toLowerCase());
    expect(await beacons[0]!.data.text()).toBe('{"a":1}');
    navigator.sendBeacon = () => {
      throw new TypeError('quota');
    };
    expect(p.sendOnUnload!('https://h/ingest', 'x', {})).toBe(false);
  });

  it('without sendBeacon, unload sends go by keepalive fetch', async () => {
    const calls: RequestInit[] = [];
    const { globals } = fakeGlobals({
      fetch: (async (_url: string, init: RequestInit) => {
        calls.push(init);
        return new Response('');
      }) as typeof fetch,
    });
    const p = createBrowserPlatform({ globals });
    expect(p.sendOnUnload!('https://h/ingest', 'x', {})).toBe(true);
    expect(calls[0]).toMatchObject({
      method: 'POST',
      keepalive: true,
      headers: { 'content-type': UNLOAD_CONTENT_TYPE },
    });
  });

  it('gzips with CompressionStream', async () => {
    const p = createBrowserPlatform({ globals: fakeGlobals().globals });
    expect(p.canGzip).toBe(true);
    const text = 'héllo '.repeat(500);
    expect(gunzipSync(await p.gzip(text)).toString('utf8')).toBe(text);
    // A batch as its pieces goes into the Blob as it is, separators included.
    const parts = { head: '{"batch":[', items: ['{"a":"é"}', '{"b":2}', '{}'], tail: ']}' };
    expect(gunzipSync(await p.gzip(parts)).toString('utf8')).toBe('{"batch":[{"a":"é"},{"b":2},{}]}');
    const none = createBrowserPlatform({ globals: fakeGlobals({ CompressionStream: undefined }).globals });
    expect(none.canGzip).toBe(false);
    await expect(none.gzip('x')).rejects.toBeInstanceOf(TypeError);
  });

  it('default outbox: IndexedDB when it exists, else localStorage, else memory; a failing one falls through', () => {
    const made: string[] = [];
    const factories = {
      indexedDB: () => {
        made.push('idb');
        return createMemoryOutbox();
      },
      localStorage: () => {
        made.push('ls');
        return createMemoryOutbox();
      },
    };
    createBrowserPlatform({
      globals: fakeGlobals({ indexedDB: {}, localStorage: {} }).globals,
      outboxes: factories,
    }).createDefaultOutbox({ name: 'a' });
    createBrowserPlatform({
      globals: fakeGlobals({ localStorage: {} }).globals,
      outboxes: factories,
    }).createDefaultOutbox({ name: 'a' });
    expect(made).toEqual(['idb', 'ls']);
    const failing = {
      indexedDB: () => {
        throw new Error('blocked');
      },
      localStorage: () => null,
    };
    const outbox = createBrowserPlatform({
      globals: fakeGlobals({ indexedDB: {}, localStorage: {} }).globals,
      outboxes: failing,
    }).createDefaultOutbox({ name: 'a' });
    expect(typeof outbox.claim).toBe('function');
  });
});
