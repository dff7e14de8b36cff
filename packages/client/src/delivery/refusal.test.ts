import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRecords, Sink, startDelivery, track, until } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * A loopback port nothing listens on now (bound, read and closed): each test needs one it can
 * come up on later. Fixed ports failed the suite whenever another program held them.
 */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A loopback sink on `port` (0: any) that answers 400 to everything. */
async function refusingSink(port = 0): Promise<Sink> {
  const sink = new Sink();
  sink.port = port;
  sink.handler = () => ({ status: 400, body: '{"error":"bad request"}' });
  await sink.up();
  cleanups.push(() => sink.down().catch(() => undefined));
  return sink;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One endpoint refuses a batch for good (400) while the other one is down (port closed): the
 * batch waits for the one that is down, in the outbox, and the one that refused it is not sent
 * it again in a loop. Before, the refusing endpoint got thousands of requests a second.
 */
describe('a batch one endpoint refuses while another is down', () => {
  const options = {
    intervalMs: 20,
    retry: { initialMs: 100, maxMs: 400 },
    breaker: { threshold: 3, halfOpenAfterMs: 300 },
  };

  it('failover: waits with backoff, then is dead-lettered once every endpoint refused it', async () => {
    const refusing = await refusingSink();
    const downPort = await freePort(); // nothing listens: connections are refused
    const h = startDelivery({
      ...options,
      endpoints: [
        { destination: 'homing', host: refusing.url, key: 'k' },
        { destination: 'homing', host: `http://127.0.0.1:${downPort}`, key: 'k' },
      ],
    });
    cleanups.push(() => h.delivery.shutdown(0));
    track(h, makeRecords(3));

    await sleep(3_000);
    // Backoff capped at 400 ms over 3 s: a few tens at most (the defect made thousands).
    expect(refusing.requests.length).toBeGreaterThanOrEqual(1);
    expect(refusing.requests.length).toBeLessThan(40);
    // Not lost, not dead-lettered: the other endpoint may still take it.
    expect((await h.outbox.size()).events).toBe(3);
    expect(await h.outbox.listDeadLetters()).toEqual([]);

    // The other endpoint comes up and refuses it too: now every endpoint refused it.
    const second = await refusingSink(downPort);
    await until(async () => (await h.outbox.listDeadLetters()).length === 3, 10_000, 'the dead letters');
    expect(second.requests.length).toBeGreaterThanOrEqual(1);
    expect((await h.outbox.size()).events).toBe(0);
    expect(h.delivery.stats().deadLettered).toBe(3);
    const [letter] = await h.outbox.listDeadLetters();
    expect(letter!.reason).toContain(`homing:${refusing.url}`);
    expect(letter!.reason).toContain(`homing:${second.url}`);
    // Settled: the endpoint that refused it no longer waits because of it.
    expect(h.delivery.stats().breakers[`homing:${refusing.url}`]!.retryAtMs).toBeNull();
  });

  it('fanout: the batch waits, and is sent once the other endpoint is up and accepts it', async () => {
    const refusing = await refusingSink();
    const other = new Sink();
    other.port = await freePort();
    const h = startDelivery({
      ...options,
      mode: 'fanout',
      endpoints: [
        { destination: 'homing', host: refusing.url, key: 'k' },
        { destination: 'homing', host: other.url, key: 'k' },
      ],
    });
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(3);
    track(h, records);

    await sleep(2_000);
    expect(refusing.requests.length).toBeGreaterThanOrEqual(1);
    expect(refusing.requests.length).toBeLessThan(30);
    expect((await h.outbox.size()).events).toBe(3);

    await other.up();
    cleanups.push(() => other.down().catch(() => undefined));
    await until(() => other.acceptedUuids.length === 3, 10_000, 'the other endpoint to take the batch');
    expect(other.acceptedUuids).toEqual(records.map((r) => r.uuid));
    await until(async () => (await h.outbox.size()).events === 0, 5_000, 'the ack');
    expect(await h.outbox.listDeadLetters()).toEqual([]);
    expect(h.delivery.stats().sent).toBe(3);
    expect(h.delivery.stats().breakers[`homing:${refusing.url}`]!.retryAtMs).toBeNull();
  });
});

/** `keepRefused`: a one-off sender (homing flush) keeps what a wrong key or URL got refused. */
describe('keepRefused', () => {
  it('keeps a refused batch queued when it answers true, and is told the status and endpoint', async () => {
    const sink = await refusingSink(18935);
    const seen: { endpoint: string; status: number | undefined }[] = [];
    const h = startDelivery(
      { intervalMs: 20, endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }] },
      { keepRefused: ({ endpoint, status }) => (seen.push({ endpoint, status }), true) },
    );
    cleanups.push(() => h.delivery.shutdown(0));
    track(h, makeRecords(3));
    await until(() => seen.length > 0, 5_000, 'the refusal');
    await h.delivery.shutdown(0);
    expect(seen[0]).toEqual({ endpoint: expect.stringContaining('127.0.0.1:18935') as string, status: 400 });
    expect(await h.outbox.listDeadLetters()).toEqual([]);
    expect((await h.outbox.size()).events).toBe(3);
  });

  it('dead-letters as usual when it answers false or throws', async () => {
    const sink = await refusingSink(18936);
    for (const keepRefused of [
      () => false,
      () => {
        throw new Error('hook broke');
      },
    ]) {
      const h = startDelivery(
        { intervalMs: 20, endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }] },
        { keepRefused },
      );
      cleanups.push(() => h.delivery.shutdown(0));
      track(h, makeRecords(2));
      await until(async () => (await h.outbox.listDeadLetters()).length === 2, 5_000, 'the dead letters');
      await h.delivery.shutdown(0);
    }
  });
});
