/**
 * The client in a shared worker, and in a page and workers of one origin sharing an outbox, in
 * Chromium: a shared worker's events (bad input among them: cycles, BigInt, huge strings, no
 * name) each arrive once and nothing throws there; with the page, a dedicated and a shared worker
 * all tracking under one name while the sink holds its answers, the outbox's delivery lock keeps
 * each event to one sender: all arrive, none twice, each counted sent by one of them.
 */
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';
import { inWorker, repeated, startWorker, until } from './workerScripts.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

describe.skipIf(!available)('the client in a shared worker, in Chromium', () => {
  it('sends every event once, bad input included, without throwing', async () => {
    const page = await suite.openPage();
    await startWorker(page, 'shared', 's');
    const out = await inWorker(
      page,
      's',
      async ({ host }) => {
        const uuids: string[] = [];
        const client = homing.telemetry(
          { name: 'shared-worker', endpoints: [{ destination: 'homing', host, key: 'k' }] },
          uuids,
        );
        for (let i = 0; i < 20; i++) client.track('shared.event', { i });
        const cycle: Record<string, unknown> = { a: 1 };
        cycle['self'] = cycle;
        client.track('bad.cycle', cycle);
        client.track('bad.bigint', { n: BigInt(10) } as never);
        client.track('bad.huge', { s: 'x'.repeat(2_000_000) });
        client.track('n'.repeat(100_000));
        client.track(undefined as never, 5 as never);
        client.identify('user-1', { big: BigInt(1) } as never);
        const flushed = await client.flush({ timeoutMs: 15_000 });
        const stats = await client.stats();
        await client.shutdown({ timeoutMs: 2_000 });
        return {
          uuids,
          flushed,
          tracked: stats.tracked,
          sent: stats.sent,
          dropped: Object.entries(stats.dropped).filter(([, n]) => n > 0),
          errors: homing.keep.errors,
        };
      },
      { host: suite.sink.url },
    );
    // 20 + 4 repaired + the identify event; the call without a name is dropped, counted.
    expect(out.uuids).toHaveLength(25);
    expect(out).toMatchObject({
      flushed: { sent: 25, pending: 0, timedOut: false },
      tracked: 26,
      sent: 25,
      dropped: [['invalid', 1]],
      errors: [],
    });
    expect([...suite.sink.uuids()].sort()).toEqual([...out.uuids].sort());
  });

  it('a page, a dedicated and a shared worker on one outbox: every event arrives, none twice', async () => {
    const page = await suite.openPage();
    await startWorker(page, 'dedicated', 'd');
    await startWorker(page, 'shared', 's');
    const sink = suite.sink;
    let release = (): void => {};
    sink.hold = new Promise<void>((resolve) => (release = resolve));
    try {
      const start = async ({ host }: { host: string }): Promise<string[]> => {
        const uuids: string[] = [];
        const client = homing.telemetry(
          {
            name: 'one-outbox',
            endpoints: [{ destination: 'homing', host, key: 'k' }],
            delivery: { intervalMs: 50 },
          },
          uuids,
        );
        homing.keep.client = client;
        for (let i = 0; i < 40; i++) client.track('shared.outbox', { i });
        await client.persist();
        return uuids;
      };
      const tracked = [
        ...(await page.evaluate(start, { host: sink.url })),
        ...(await inWorker(page, 'd', start, { host: sink.url })),
        ...(await inWorker(page, 's', start, { host: sink.url })),
      ];
      expect(tracked).toHaveLength(120);
      // One of them holds the lock and a request: the others keep to their side meanwhile.
      await until(() => sink.requests.length > 0, 10_000, 'a held request');
      release();
      sink.hold = undefined;
      await until(() => tracked.every((u) => sink.uuids().includes(u)), 20_000, 'every event');
      const sentBy = async (): Promise<number> => {
        const sent = async (): Promise<number> =>
          (await (homing.keep.client as ReturnType<typeof homing.telemetry>).stats()).sent;
        return (
          (await page.evaluate(sent)) +
          (await inWorker(page, 'd', sent, null)) +
          (await inWorker(page, 's', sent, null))
        );
      };
      // Each event counted sent by one of the three, once its answer was read.
      await until(async () => (await sentBy()) >= 120, 10_000, 'the answers read');
      expect(await sentBy()).toBe(120);
      expect(repeated(sink.uuids())).toEqual([]);
      const stop = async (): Promise<unknown[]> => {
        await (homing.keep.client as ReturnType<typeof homing.telemetry>).shutdown({ timeoutMs: 2_000 });
        return (homing.keep.errors as unknown[] | undefined) ?? [];
      };
      expect([
        ...(await page.evaluate(stop)),
        ...(await inWorker(page, 'd', stop, null)),
        ...(await inWorker(page, 's', stop, null)),
      ]).toEqual([]);
    } finally {
      release();
      sink.hold = undefined;
    }
  });
});
