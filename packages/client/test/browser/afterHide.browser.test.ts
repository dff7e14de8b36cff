/**
 * Events tracked after the outbox's own `pagehide` handler ran, in Chromium: by the app's own
 * `pagehide` and `unload` listeners (registered after the client, so they run after it), as a
 * page really leaves. A page going away runs no later turn, so the write those appends scheduled
 * never happens; they must be saved at once (the IndexedDB outbox's unload spill, the
 * localStorage outbox's synchronous write) and sent by the next page load. On the code before,
 * they were lost with both storages.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

type Storage = 'indexeddb' | 'localStorage';

/**
 * A client whose outbox writes only when told to (persistIntervalMs 60 s), and listeners of the
 * app that track when the page leaves; the uuids they tracked are noted in localStorage.
 */
async function startApp(page: Page, host: string, name: string, storage: Storage): Promise<void> {
  await page.evaluate(
    async ({ host: h, name: n, storage: s }) => {
      const uuids: string[] = [];
      const outbox = (s === 'indexeddb' ? homing.idb : homing.local)({ name: n, persistIntervalMs: 60_000 });
      const client = homing.telemetry(
        { name: n, storage: outbox, endpoints: [{ destination: 'homing', host: h, key: 'k' }] },
        uuids,
      );
      await client.flush({ timeoutMs: 10_000 });
      const late = (event: string): void => {
        const from = uuids.length;
        client.track(event);
        const noted = JSON.parse(localStorage.getItem('late') ?? '[]') as string[];
        localStorage.setItem('late', JSON.stringify([...noted, ...uuids.slice(from)]));
      };
      addEventListener('pagehide', () => late('late.pagehide'));
      addEventListener('unload', () => late('late.unload'));
    },
    { host, name, storage },
  );
}

/** The next page load: the late uuids noted, then a client on the same outbox sends what it holds. */
async function nextLoad(host: string, name: string, storage: Storage): Promise<string[]> {
  const page = await suite.openPage('/?next');
  return page.evaluate(
    async ({ host: h, name: n, storage: s }) => {
      const late = JSON.parse(localStorage.getItem('late') ?? '[]') as string[];
      const outbox = (s === 'indexeddb' ? homing.idb : homing.local)({ name: n });
      const client = homing.telemetry(
        { name: n, storage: outbox, endpoints: [{ destination: 'homing', host: h, key: 'k' }] },
        [],
      );
      await client.flush({ timeoutMs: 15_000 });
      await client.shutdown({ timeoutMs: 1_000 });
      await outbox.close();
      return late;
    },
    { host, name, storage },
  );
}

describe.skipIf(!available)('events tracked after the outbox’s pagehide handler, in Chromium', () => {
  const leave: Array<[string, (page: Page) => Promise<unknown>]> = [
    ['page.close({ runBeforeUnload: true })', (page) => page.close({ runBeforeUnload: true })],
    ['a page.goto on the same origin', (page) => page.goto(`${suite.server.url}/?elsewhere`)],
  ];
  for (const storage of ['indexeddb', 'localStorage'] as const) {
    for (const [how, go] of leave) {
      it(`${storage}: on ${how}, the events of the app's pagehide and unload listeners reach the sink`, async () => {
        const name = `late-${storage}-${how.length}-${Date.now()}`;
        const page = await suite.openPage();
        await startApp(page, suite.sink.url, name, storage);
        await go(page);
        const late = await nextLoad(suite.sink.url, name, storage);
        // Each listener notes its uuids in localStorage itself; on a loaded machine Chromium once
        // lost the unload listener's note with the page (1 of 2), whatever the outbox did. What
        // was noted must reach the sink; at least the pagehide listener's note is always there.
        expect(late.length).toBeGreaterThanOrEqual(1);
        await expect
          .poll(() => suite.sink.uuids(), { timeout: 20_000 })
          .toEqual(expect.arrayContaining(late));
      });
    }
  }
});
