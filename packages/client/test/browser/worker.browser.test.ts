/**
 * The client in a dedicated module worker in Chromium (the bundle loaded by a worker of the
 * page's origin, driven by messages from the page), with the defaults a worker gets: the generic
 * platform and, since IndexedDB exists there, the IndexedDB outbox. On the code before, a worker
 * defaulted to memory (what it held when stopped was lost, and each start made a new anonymous
 * install id) and ignored `navigator.onLine` (it kept sending while offline, opening its breaker,
 * and then waited out the half-open delay once the network came back). Chromium's network
 * emulation changes a worker's `onLine` without firing online/offline there (measured).
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';
import { inWorker, startWorker, until } from './workerScripts.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

function terminateWorker(page: Page, id: string): Promise<void> {
  return page.evaluate((workerId) => {
    const g = globalThis as unknown as { workerPorts: Record<string, Worker> };
    g.workerPorts[workerId]!.terminate();
    delete g.workerPorts[workerId];
  }, id);
}

describe.skipIf(!available)('the client in a worker, in Chromium', () => {
  it('keeps its events in IndexedDB by default: what a stopped worker held is sent by the next one, under the install id of the pages', async () => {
    const page = await suite.openPage();
    const name = 'worker-default';
    const host = suite.sink.url;
    // A page of the origin first: it makes the install id.
    const pageIds = await page.evaluate(
      async ({ host: h, name: n }) => {
        const ids: string[] = [];
        const client = homing.telemetry(
          { name: n, endpoints: [{ destination: 'homing', host: h, key: 'k' }] },
          [],
          ids,
        );
        client.track('page.view');
        await client.flush({ timeoutMs: 10_000 });
        await client.shutdown({ timeoutMs: 2_000 });
        return ids;
      },
      { host, name },
    );
    expect(pageIds).toHaveLength(1);
    const pageDistinctId = pageIds[0]!.split('=')[1];

    await startWorker(page, 'dedicated', 'first');
    // Its endpoint never answers: the events wait in the outbox when the browser stops it.
    const first = await inWorker(
      page,
      'first',
      async ({ name: n }) => {
        const uuids: string[] = [];
        const ids: string[] = [];
        const client = homing.telemetry(
          { name: n, endpoints: [{ destination: 'custom', send: () => new Promise<void>(() => {}) }] },
          uuids,
          ids,
        );
        for (let i = 0; i < 5; i++) client.track('worker.event', { i });
        await client.persist();
        return { uuids, ids, persisted: (await client.stats()).persisted };
      },
      { name },
    );
    expect(first.uuids).toHaveLength(5);
    expect(first.persisted).toBe(5);
    await terminateWorker(page, 'first');

    await startWorker(page, 'dedicated', 'second');
    const second = await inWorker(
      page,
      'second',
      async ({ host: h, name: n }) => {
        const ids: string[] = [];
        const client = homing.telemetry(
          { name: n, endpoints: [{ destination: 'homing', host: h, key: 'k' }] },
          [],
          ids,
        );
        client.track('worker.started');
        const result = await client.flush({ timeoutMs: 10_000 });
        await client.shutdown({ timeoutMs: 2_000 });
        return { ids, result };
      },
      { host, name },
    );
    expect(second.result.timedOut).toBe(false);
    const arrived = new Set(suite.sink.uuids());
    expect(first.uuids.filter((u) => !arrived.has(u))).toEqual([]);
    // One install: the pages', read from the outbox state the page copied it into.
    expect(new Set([...first.ids, ...second.ids].map((e) => e.split('=')[1]))).toEqual(
      new Set([pageDistinctId]),
    );
  });

  it('holds its events while offline, without failed attempts, and sends them as soon as the network is back', async () => {
    const page = await suite.openPage();
    await startWorker(page, 'dedicated', 'w');
    await suite.context.setOffline(true);
    await until(
      () => inWorker(page, 'w', () => navigator.onLine === false, null),
      10_000,
      'the worker to see it is offline',
    );
    // Made once the worker is offline: on a loaded machine the first poll of onLine could come
    // after the first sends (the move from online to offline is tested in generic.test.ts).
    await inWorker(
      page,
      'w',
      ({ host: h }) => {
        const uuids: string[] = [];
        homing.keep.uuids = uuids;
        homing.keep.client = homing.telemetry(
          {
            name: 'worker-offline',
            endpoints: [{ destination: 'homing', host: h, key: 'k' }],
            delivery: { intervalMs: 50 },
          },
          uuids,
        );
      },
      { host: suite.sink.url },
    );
    await inWorker(
      page,
      'w',
      () => {
        const client = homing.keep.client as ReturnType<typeof homing.telemetry>;
        for (let i = 0; i < 10; i++) client.track('offline.event', { i });
      },
      null,
    );
    // Long enough for many sends at a 50 ms interval (the code before had failed attempts by then).
    await new Promise((r) => setTimeout(r, 2_500));
    const offline = await inWorker(
      page,
      'w',
      async () => {
        const stats = await (homing.keep.client as ReturnType<typeof homing.telemetry>).stats();
        return {
          failedAttempts: stats.failedAttempts,
          sent: stats.sent,
          breakers: Object.values(stats.breakers).map((b) => b.state),
        };
      },
      null,
    );
    expect(offline).toEqual({ failedAttempts: 0, sent: 0, breakers: ['closed'] });

    await suite.context.setOffline(false);
    const uuids = await inWorker(page, 'w', () => homing.keep.uuids as string[], null);
    expect(uuids).toHaveLength(10);
    // Well under the breaker's half-open delay: nothing waits for it.
    await until(
      () => uuids.every((u) => suite.sink.uuids().includes(u)),
      10_000,
      'the events sent once online',
    );
    // The sink counts an event when the request arrives; the worker, once its answer is read:
    // on a loaded machine a moment later.
    const sentStats = () =>
      inWorker(
        page,
        'w',
        async () => {
          const stats = await (homing.keep.client as ReturnType<typeof homing.telemetry>).stats();
          return { failedAttempts: stats.failedAttempts, sent: stats.sent };
        },
        null,
      );
    await until(async () => (await sentStats()).sent === 10, 10_000, 'the worker to read the answers');
    expect(await sentStats()).toEqual({ failedAttempts: 0, sent: 10 });
    await inWorker(
      page,
      'w',
      async () => (homing.keep.client as ReturnType<typeof homing.telemetry>).shutdown({ timeoutMs: 2_000 }),
      null,
    );
  });
  it('stops sending the moment navigator.onLine says offline, not at its next poll of it', async () => {
    const page = await suite.openPage();
    await startWorker(page, 'dedicated', 'w');
    await inWorker(
      page,
      'w',
      ({ host: h }) => {
        const uuids: string[] = [];
        homing.keep.uuids = uuids;
        // Only flush() and the online change send: no interval tick in between.
        homing.keep.client = homing.telemetry(
          {
            name: 'worker-went-offline',
            endpoints: [{ destination: 'homing', host: h, key: 'k' }],
            delivery: { intervalMs: 600_000 },
          },
          uuids,
        );
      },
      { host: suite.sink.url },
    );
    await suite.context.setOffline(true);
    // Made while online, so its poll of onLine (every second) has not seen the change yet when
    // the worker tracks and flushes, a few milliseconds after onLine turned false.
    const offline = await inWorker(
      page,
      'w',
      async () => {
        while (navigator.onLine) await homing.sleep(5);
        const client = homing.keep.client as ReturnType<typeof homing.telemetry>;
        for (let i = 0; i < 5; i++) client.track('went.offline', { i });
        const flushed = await client.flush({ timeoutMs: 1_000 });
        const stats = await client.stats();
        return { flushed, failedAttempts: stats.failedAttempts, lastError: stats.lastError };
      },
      null,
    );
    expect(offline).toEqual({
      flushed: expect.objectContaining({ sent: 0, pending: 5 }),
      failedAttempts: 0,
      lastError: null,
    });

    await suite.context.setOffline(false);
    const uuids = await inWorker(page, 'w', () => homing.keep.uuids as string[], null);
    await until(
      () => uuids.every((u) => suite.sink.uuids().includes(u)),
      10_000,
      'the events sent once online',
    );
    await inWorker(
      page,
      'w',
      async () => (homing.keep.client as ReturnType<typeof homing.telemetry>).shutdown({ timeoutMs: 2_000 }),
      null,
    );
  });
});
