import { afterEach, describe, expect, it } from 'vitest';
import type { BrowserGlobals } from '../platform/browser.js';
import { createBrowserPlatform } from '../platform/browser.js';
import type { Platform } from '../platform/platform.js';
import type { Harness } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, until } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

class FakeDocument extends EventTarget {
  visibilityState = 'visible';
}

function page(fetchImpl: typeof fetch, sendBeacon?: (url: string, data: Blob) => boolean) {
  const window = new EventTarget();
  const document = new FakeDocument();
  const globals: BrowserGlobals = {
    window,
    document,
    navigator: { onLine: true, ...(sendBeacon ? { sendBeacon } : {}) },
    fetch: fetchImpl,
    CompressionStream,
  };
  const platform = createBrowserPlatform({ globals });
  const hide = (): void => {
    document.visibilityState = 'hidden';
    document.dispatchEvent(new Event('visibilitychange'));
  };
  return { platform, window, hide };
}

function harness(s: Sink, platform: Platform): Harness {
  const h = startDelivery(
    { endpoints: [{ destination: 'homing', host: s.url, key: 'wk_page' }], intervalMs: 60_000 },
    { platform: platform as never },
  );
  cleanups.push(() => h.delivery.shutdown(0));
  return h;
}

describe('browser unload', () => {
  it('on hidden, sends what fits in 64 KB with keepalive fetch: text/plain, key in the body, no Authorization; acked on 2xx', async () => {
    const s = await Sink.start();
    cleanups.push(() => s.down());
    const inits: RequestInit[] = [];
    const { platform, hide } = page((async (url: string, init: RequestInit) => {
      inits.push(init);
      return fetch(url, init);
    }) as typeof fetch);
    const h = harness(s, platform);
    const records = makeRecords(120, () => ({ pad: 'p'.repeat(900) })); // ~1 KB each: more than 64 KB
    h.outbox.append(records);
    hide();
    await until(() => s.requests.length === 1, 5_000, 'the unload request');
    const req = s.requests[0]!;
    expect(req.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect(req.headers.authorization).toBeUndefined();
    expect(req.gzipped).toBe(false);
    expect(Buffer.byteLength(req.text)).toBeLessThanOrEqual(64 * 1024);
    const body = JSON.parse(req.text) as { api_key: string; batch: Array<{ uuid: string }> };
    expect(body.api_key).toBe('wk_page');
    expect(body.batch.map((e) => e.uuid)).toEqual(records.slice(0, body.batch.length).map((r) => r.uuid));
    expect(body.batch.length).toBeGreaterThan(30);
    expect(inits[0]).toMatchObject({ keepalive: true, method: 'POST' });
    await until(
      async () => (await h.outbox.size()).events === records.length - body.batch.length,
      5_000,
      'the ack',
    );
    expect(h.delivery.stats().sent).toBe(body.batch.length);
  });

  it('falls back to sendBeacon when keepalive fetch is refused, and releases (never acks) what it cannot confirm', async () => {
    const s = await Sink.start();
    cleanups.push(() => s.down());
    const beacons: string[] = [];
    const { platform, window } = page(
      (() => {
        throw new TypeError('keepalive not supported');
      }) as unknown as typeof fetch,
      (_url, data) => {
        void data.text().then((t) => beacons.push(t));
        return true;
      },
    );
    const h = harness(s, platform);
    const records = makeRecords(5);
    h.outbox.append(records);
    window.dispatchEvent(new Event('pagehide'));
    await until(() => beacons.length === 1, 5_000, 'the beacon');
    expect((JSON.parse(beacons[0]!) as { batch: unknown[] }).batch).toHaveLength(5);
    // Still there for the next page load; the server dedups the resend by uuid.
    await until(
      async () => (await h.outbox.claim(10, Infinity))?.records.length === 5,
      5_000,
      'records released',
    );
  });

  it('does nothing on unload while paused (consent pending)', async () => {
    const s = await Sink.start();
    cleanups.push(() => s.down());
    let calls = 0;
    const { platform, window } = page((async () => {
      calls++;
      return new Response('');
    }) as typeof fetch);
    const h = harness(s, platform);
    h.delivery.setPaused(true);
    h.outbox.append(makeRecords(3));
    window.dispatchEvent(new Event('pagehide'));
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(0);
    expect((await h.outbox.size()).events).toBe(3);
  });
});
