import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/node.js';
import type { OutboxRecord } from '../outbox/outbox.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import type { SinkReply, SinkRequest } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, track, until } from './delivery.test-helpers.js';
import { POISON_SEARCH_STATE_KEY } from './PoisonIsolation.js';

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sink(handler: (request: SinkRequest) => SinkReply): Promise<Sink> {
  const s = await Sink.start(handler);
  cleanups.push(() => s.down());
  return s;
}

/** Fails every request that carries `poison` the way `reply` says; accepts the others. */
function failingOn(poison: string, reply: SinkReply = { status: 500, body: '{"error":"boom"}' }) {
  return (request: SinkRequest): SinkReply =>
    request.uuids.includes(poison) ? reply : { status: 202, body: '{}' };
}

function options(s: Sink, extra: Partial<DeliveryOptionsInput> = {}): DeliveryOptionsInput {
  return {
    endpoints: [{ destination: 'homing', host: s.url, key: 'wk_poison' }],
    batchSize: 100,
    intervalMs: 20,
    retry: { initialMs: 100, maxMs: 200 },
    breaker: { threshold: 3, halfOpenAfterMs: 150 },
    ...extra,
  };
}

function uuidsOf(records: readonly OutboxRecord[]): string[] {
  return records.map((r) => r.uuid);
}

/**
 * A server that fails (5xx, a reset connection, no answer) every batch holding one event, and
 * takes every other. Before, that batch headed every claim after its failure and, once the
 * breaker opened, every half-open probe: nothing behind it was sent again, until retention.
 */
describe('an event the endpoint fails on every time', () => {
  for (const [name, reply] of [
    ['500', { status: 500, body: '{"error":"boom"}' }],
    ['a reset connection', 'reset'],
  ] as const) {
    it(`at the head of the queue (${name}): found, dead-lettered, and every other event delivered`, async () => {
      const records = makeRecords(250);
      const poison = records[0]!.uuid;
      const s = await sink(failingOn(poison, reply));
      const h = startDelivery(options(s));
      cleanups.push(() => h.delivery.shutdown(0));
      track(h, records);

      await until(async () => (await h.outbox.size()).events === 0, 20_000, 'the queue to empty');
      const others = uuidsOf(records.slice(1));
      expect(new Set(s.acceptedUuids)).toEqual(new Set(others));
      expect(s.acceptedUuids).toHaveLength(others.length);
      const dead = await h.outbox.listDeadLetters();
      expect(dead.map((d) => d.record.uuid)).toEqual([poison]);
      expect(dead[0]!.reason).toMatch(/this event alone, 3 times, while the endpoint accepted other events/);
      if (reply !== 'reset') expect(dead[0]!.reason).toMatch(/HTTP 500/);
      expect(h.delivery.stats()).toMatchObject({ deadLettered: 1, sent: others.length });
      expect(h.events.of('dead-letter')).toEqual([expect.objectContaining({ count: 1 })]);
      // The search is over: nothing of it is left in the outbox state.
      await h.delivery.shutdown(1_000);
      expect(await h.outbox.getState(POISON_SEARCH_STATE_KEY)).toBeUndefined();
    });
  }

  it("at the head, with the breaker's default threshold: found in seconds, and the breaker never opens", async () => {
    // Before probes while halving, every halving failed in a row: the breaker opened at the fifth
    // failure, and each halving after it waited for a half-open probe (30 s by default).
    const records = makeRecords(400);
    const poison = records[0]!.uuid;
    const s = await sink(failingOn(poison));
    const h = startDelivery(options(s, { breaker: { threshold: 5, halfOpenAfterMs: 30_000 } }));
    cleanups.push(() => h.delivery.shutdown(0));
    track(h, records);
    await until(async () => (await h.outbox.size()).events === 0, 15_000, 'the queue to empty');
    expect((await h.outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual([poison]);
    const others = uuidsOf(records.slice(1));
    expect(new Set(s.acceptedUuids)).toEqual(new Set(others));
    expect(s.acceptedUuids).toHaveLength(others.length);
    expect(h.events.of('breaker-state').map((e) => e.state)).not.toContain('open');
    // At most two failures in a row: every failure after the search began was followed by a probe
    // the endpoint accepted.
    let inARow = 0;
    let most = 0;
    for (const r of s.requests) {
      inARow = r.uuids.includes(poison) ? inARow + 1 : 0;
      most = Math.max(most, inARow);
    }
    expect(most).toBeLessThanOrEqual(2);
  });

  it('in the middle of a backlog that keeps growing: the rest flows, in batches of 100 again after', async () => {
    const records = makeRecords(300);
    const poison = records[137]!.uuid;
    const s = await sink(failingOn(poison));
    const h = startDelivery(options(s));
    cleanups.push(() => h.delivery.shutdown(0));
    track(h, records);
    const later: OutboxRecord[] = [];
    // The search narrowed the failing batch down: then more events come. (With nothing else
    // queued the suspect has nothing to be told from an endpoint that is down: it is retried.)
    await until(() => s.requests.some((r) => r.uuids.length === 1), 20_000, 'a request of one event');
    for (let i = 0; i < 5; i++) {
      const more = makeRecords(100);
      later.push(...more);
      track(h, more);
    }
    await until(async () => (await h.outbox.size()).events === 0, 20_000, 'the queue to empty');
    const expected = uuidsOf([...records, ...later]).filter((u) => u !== poison);
    expect(new Set(s.acceptedUuids)).toEqual(new Set(expected));
    expect(s.acceptedUuids).toHaveLength(expected.length);
    expect((await h.outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual([poison]);
    // Claims are whole again once the event is set aside.
    const laterIds = new Set(uuidsOf(later));
    const afterSearch = s.requests.filter((r) => r.uuids.every((u) => laterIds.has(u)));
    expect(Math.max(...afterSearch.map((r) => r.uuids.length))).toBe(100);
    // The search split only the batch that failed: the events before it went as they were.
    expect(s.requests[0]!.uuids).toEqual(uuidsOf(records.slice(0, 100)));
  });

  it('an endpoint failing everything for a while is an outage, not a bad event: nothing dead-lettered', async () => {
    let down = true;
    const s = await sink(() => (down ? { status: 500 } : { status: 202, body: '{}' }));
    const h = startDelivery(options(s, { breaker: { threshold: 1000, halfOpenAfterMs: 150 } }));
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(250);
    track(h, records);
    // Long enough for the search to split down to the first event alone, twice (probes, of one
    // event too, fail as well).
    const alone = (): number =>
      s.requests.filter((r) => r.uuids.length === 1 && r.uuids[0] === records[0]!.uuid).length;
    await until(() => alone() >= 1, 20_000, 'the first event alone');
    await until(() => alone() >= 2, 20_000, 'a second search');
    down = false;
    await until(async () => (await h.outbox.size()).events === 0, 20_000, 'the queue to empty');
    expect(new Set(s.acceptedUuids)).toEqual(new Set(uuidsOf(records)));
    expect(s.acceptedUuids).toHaveLength(records.length);
    expect(await h.outbox.listDeadLetters()).toEqual([]);
    expect(h.delivery.stats().deadLettered).toBe(0);
  });

  it('a refused connection is an endpoint down, whatever the batch: it starts no search', async () => {
    const s = await sink(() => ({ status: 202, body: '{}' }));
    await s.down();
    const h = startDelivery(options(s, { breaker: { threshold: 1000, halfOpenAfterMs: 150 } }));
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(250);
    track(h, records);
    await until(() => h.delivery.stats().failedAttempts >= 6, 20_000, 'six refused attempts');
    expect(await h.outbox.getState(POISON_SEARCH_STATE_KEY)).toBeUndefined();
    await s.up();
    await until(async () => (await h.outbox.size()).events === 0, 20_000, 'the queue to empty');
    // Whole batches (two may go at once, in either order).
    expect(s.requests.map((r) => r.uuids.length).sort((a, b) => a - b)).toEqual([50, 100, 100]);
  });

  it('503 says the endpoint is busy or down, whatever the batch: it starts no search', async () => {
    const records = makeRecords(250);
    const poison = records[0]!.uuid;
    const s = await sink(failingOn(poison, { status: 503 }));
    const h = startDelivery(options(s, { breaker: { threshold: 1000, halfOpenAfterMs: 150 } }));
    cleanups.push(() => h.delivery.shutdown(0));
    track(h, records);
    await until(() => s.requests.filter((r) => r.uuids.includes(poison)).length >= 6, 20_000, 'six 503s');
    // Whole batches every time; the endpoint's wait holds the others, as for any 503.
    expect(s.requests.every((r) => r.uuids.length === 100 && r.uuids[0] === poison)).toBe(true);
    expect(await h.outbox.listDeadLetters()).toEqual([]);
    expect(await h.outbox.getState(POISON_SEARCH_STATE_KEY)).toBeUndefined();
  });

  it("a CLI's runs, one attempt each, carry the search on in the outbox: the event is found and the rest delivered", async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-poison-runs-'));
    cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
    const records = makeRecords(30);
    const poison = records[0]!.uuid;
    const s = await sink(failingOn(poison));
    let runs = 0;
    let first = true;
    while (runs < 40) {
      runs++;
      const outbox = createFileOutbox({ directory });
      // Only the exit flush sends; the breaker never opens, so each run makes its one attempt.
      const h = startDelivery(
        options(s, { batchSize: 10, intervalMs: 60_000, breaker: { threshold: 1000, halfOpenAfterMs: 150 } }),
        { outbox },
      );
      if (first) track(h, records);
      first = false;
      await h.platform.exit();
      await h.delivery.shutdown(0);
      const left = (await outbox.size()).events;
      const dead = await outbox.listDeadLetters();
      await outbox.close();
      if (left === 0) {
        expect(dead.map((d) => d.record.uuid)).toEqual([poison]);
        break;
      }
      // Let a run's backoff pass before the next, as the time between CLI invocations does.
      await new Promise((r) => setTimeout(r, 220));
    }
    expect(runs).toBeLessThan(40);
    const others = uuidsOf(records.slice(1));
    expect(new Set(s.acceptedUuids)).toEqual(new Set(others));
    expect(s.acceptedUuids).toHaveLength(others.length);
  });
});
