import { describe, expect, it } from 'vitest';
import type { BrowserGlobals } from '../platform/browser.js';
import { createBrowserPlatform } from '../platform/browser.js';
import { makeRecords, startDelivery, track, until, useCleanups } from './delivery.test-helpers.js';

const cleanups = useCleanups();

class FakeDocument extends EventTarget {
  visibilityState = 'visible';
}

/**
 * A page whose regular sends the network holds until `answer()`, and whose keepalive (unload)
 * requests are recorded, their uuids in order, and answered by `keepaliveFetch`.
 */
function page(url: string, keepaliveFetch: (url: string, init: RequestInit) => Promise<Response> = fetch) {
  const window = new EventTarget();
  const document = new FakeDocument();
  const unload: string[][] = [];
  let regular = 0;
  let answer!: () => void;
  const held = new Promise<void>((resolve) => (answer = resolve));
  const fetchImpl = (async (to: string, init: RequestInit) => {
    if (init.keepalive === true) {
      unload.push((JSON.parse(String(init.body)) as { batch: { uuid: string }[] }).batch.map((e) => e.uuid));
      return keepaliveFetch(to, init);
    }
    regular++;
    await held;
    return fetch(to, init);
  }) as typeof fetch;
  const globals: BrowserGlobals = {
    window,
    document,
    navigator: { onLine: true },
    fetch: fetchImpl,
    CompressionStream,
  };
  const platform = createBrowserPlatform({ globals });
  const setVisibility = (state: 'hidden' | 'visible'): void => {
    document.visibilityState = state;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  const h = startDelivery(
    { endpoints: [{ destination: 'homing', key: 'wk_page', host: url }], intervalMs: 60_000, batchSize: 5 },
    { platform: platform as never },
  );
  cleanups.add(async () => {
    answer();
    await h.delivery.shutdown(0);
  });
  return { h, window, unload, regularSends: () => regular, answer, setVisibility };
}

describe('unload sends and the regular sends in flight', () => {
  it('a tab hidden and shown again carries the records of a send in flight in one unload request, not at every hide', async () => {
    const s = await cleanups.sink(() => ({ status: 202, body: '{}' }));
    const p = page(s.url);
    const inFlight = makeRecords(5);
    track(p.h, inFlight);
    await until(() => p.regularSends() === 1, 5_000, 'the regular send');
    const ids = (records: { uuid: string }[]): string[] => records.map((r) => r.uuid);

    const first = makeRecords(1);
    track(p.h, first);
    p.setVisibility('hidden');
    expect(p.unload).toHaveLength(1);
    // Its own record, then those of the send in flight (a departure would abort that send).
    expect(p.unload[0]).toEqual(ids([...first, ...inFlight.slice(0, 4)]));

    // Shown and hidden again while that send is still in flight: its records already went in an
    // unload request, only the one that had no room then goes now.
    const hideWith = (): string[] => {
      p.setVisibility('visible');
      const more = makeRecords(1);
      track(p.h, more);
      p.setVisibility('hidden');
      return ids(more);
    };
    const second = hideWith();
    expect(p.unload.at(-1)).toEqual([...second, inFlight[4]!.uuid]);
    for (let i = 0; i < 3; i++) {
      const next = hideWith();
      expect(p.unload.at(-1)).toEqual(next);
    }
    // The page really goes: what is new, and nothing of the send in flight again.
    const last = makeRecords(1);
    track(p.h, last);
    p.window.dispatchEvent(new Event('pagehide'));
    expect(p.unload.at(-1)).toEqual(ids(last));
    expect(p.unload).toHaveLength(6);
    const carried = p.unload.flat().filter((u) => ids(inFlight).includes(u));
    expect(carried.sort()).toEqual(ids(inFlight).sort());
  });

  it('carries them again at the next hide when the unload request that carried them failed', async () => {
    const s = await cleanups.sink(() => ({ status: 202, body: '{}' }));
    const p = page(s.url, () => Promise.reject(new TypeError('Failed to fetch')));
    const inFlight = makeRecords(5);
    track(p.h, inFlight);
    await until(() => p.regularSends() === 1, 5_000, 'the regular send');
    p.setVisibility('hidden');
    expect(p.unload).toEqual([inFlight.map((r) => r.uuid)]);
    // Let the failure be seen.
    await new Promise((resolve) => setTimeout(resolve, 10));
    p.setVisibility('visible');
    p.h.delivery.notify(0, 0);
    p.window.dispatchEvent(new Event('pagehide'));
    expect(p.unload).toEqual([inFlight.map((r) => r.uuid), inFlight.map((r) => r.uuid)]);
  });
});
