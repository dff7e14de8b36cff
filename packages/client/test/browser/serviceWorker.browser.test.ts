/**
 * The client in a service worker, in Chromium: `event.waitUntil(client.flush())` in `install`
 * delivers what the install tracked, and shutdown there waits for no page event (a worker has no
 * pagehide or visibilitychange); events a `fetch` handler tracked and stored are sent by the
 * worker's next start when the browser stops it mid-delivery (the stop through CDP, as Chromium
 * does to an idle worker).
 */
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';
import { inWorker, registerServiceWorker, until } from './workerScripts.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

describe.skipIf(!available)('the client in a service worker, in Chromium', () => {
  it('event.waitUntil(client.flush()) in install delivers what it tracked', async () => {
    const page = await suite.openPage();
    await registerServiceWorker(
      page,
      async (host: string) => {
        const uuids: string[] = [];
        const client = homing.telemetry(
          { name: 'sw-install', endpoints: [{ destination: 'homing', host, key: 'k' }] },
          uuids,
        );
        client.track('sw.installed');
        const flushed = await client.flush({ timeoutMs: 10_000 });
        await client.shutdown({ timeoutMs: 2_000 });
        return { uuids, flushed };
      },
      suite.sink.url,
    );
    const installed = await inWorker(
      page,
      'service',
      () =>
        homing.keep.installed as {
          value?: { uuids: string[]; flushed: unknown };
          error?: string;
        },
      null,
    );
    expect(installed.error).toBeUndefined();
    expect(installed.value?.flushed).toEqual({ sent: 1, pending: 0, timedOut: false });
    expect(suite.sink.uuids()).toEqual(installed.value?.uuids);
  });

  it('what a fetch handler stored is sent by the next start when the browser stops it mid-delivery', async () => {
    const page = await suite.openPage();
    await registerServiceWorker(page);
    const sink = suite.sink;
    const setUp = ({ host }: { host: string }): string => {
      const uuids: string[] = [];
      const client = homing.telemetry(
        {
          name: 'sw-stopped',
          endpoints: [{ destination: 'homing', host, key: 'k' }],
          delivery: { intervalMs: 50 },
        },
        uuids,
      );
      homing.keep.client = client;
      homing.keep.onFetch = async (url: string) => {
        client.track('sw.fetch', { url });
        // What an app's handler does so the event outlives the worker: store before answering.
        await client.persist();
        return uuids.at(-1);
      };
      return homing.keep.instance as string;
    };
    const first = await inWorker(page, 'service', setUp, { host: sink.url });
    let release = (): void => {};
    sink.hold = new Promise<void>((resolve) => (release = resolve));
    try {
      const tracked = await page.evaluate(async () => {
        const uuids: string[] = [];
        for (let i = 0; i < 5; i++) uuids.push(await (await fetch(`/tracked?i=${i}`)).json());
        return uuids;
      });
      expect(new Set(tracked).size).toBe(5);
      await until(() => sink.requests.length > 0, 10_000, 'a request the sink holds');

      const cdp = await suite.context.newCDPSession(page);
      const stopped = new Promise<void>((resolve) =>
        cdp.on('ServiceWorker.workerVersionUpdated', ({ versions }) => {
          if (versions.some((v) => v.runningStatus === 'stopped')) resolve();
        }),
      );
      await cdp.send('ServiceWorker.enable');
      await cdp.send('ServiceWorker.stopAllWorkers');
      await stopped;
      release();
      sink.hold = undefined;

      // A message starts it again: a new instance, whose client sends what the first stored.
      const next = await inWorker(page, 'service', setUp, { host: sink.url });
      expect(next).not.toBe(first);
      const after = await inWorker(
        page,
        'service',
        async () => {
          const client = homing.keep.client as ReturnType<typeof homing.telemetry>;
          const flushed = await client.flush({ timeoutMs: 10_000 });
          const { queue, sent } = await client.stats();
          await client.shutdown({ timeoutMs: 2_000 });
          return { flushed, sent, queued: queue?.events, errors: homing.keep.errors };
        },
        null,
      );
      // All five: the stopped one had acked none (the held answer came after the stop), so the
      // events of its request went again too (deduped by uuid).
      expect(after).toMatchObject({
        flushed: { pending: 0, timedOut: false },
        sent: 5,
        queued: 0,
        errors: [],
      });
      const arrived = new Set(sink.uuids());
      expect(tracked.filter((u) => !arrived.has(u))).toEqual([]);
    } finally {
      release();
      sink.hold = undefined;
    }
  });
});
