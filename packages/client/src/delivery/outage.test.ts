import { afterEach, describe, expect, it } from 'vitest';
import type { OutboxRecord } from '../outbox/outbox.js';
import type { SinkRequest } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, track, until } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * Issue 3, Reliability, "Outage": the sink is down (port closed), then answers 503 with
 * Retry-After, then resets connections, then accepts. Events keep being tracked all along.
 */
describe('outage', () => {
  it('loses nothing, spaces retries as asked, and the breaker opens and recovers through a half-open probe', async () => {
    const sink = await Sink.start();
    await sink.down(); // phase 1: connection refused
    cleanups.push(() => sink.down().catch(() => undefined));

    const h = startDelivery({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'wk_outage' }],
      batchSize: 20,
      intervalMs: 20,
      retry: { initialMs: 50, maxMs: 200 },
      breaker: { threshold: 3, halfOpenAfterMs: 300 },
    });
    cleanups.push(() => h.delivery.shutdown(0));
    const endpoint = `homing:${sink.url}`;
    const states = () => h.events.of('breaker-state').map((e) => e.state);

    const tracked: OutboxRecord[] = [];
    let tracking = true;
    const producer = (async () => {
      while (tracking) {
        const records = makeRecords(3);
        tracked.push(...records);
        track(h, records);
        await new Promise((r) => setTimeout(r, 15));
      }
    })();

    await until(() => states().includes('open'), 10_000, 'the breaker to open while the port is closed');
    expect(h.delivery.stats().failedAttempts).toBeGreaterThanOrEqual(3);
    expect(sink.requests).toHaveLength(0);

    // Phase 2: up again, but 503 with Retry-After: 1 (second).
    const busy = new Set<SinkRequest>();
    sink.handler = (req) => {
      busy.add(req);
      return { status: 503, headers: { 'retry-after': '1' } };
    };
    await sink.up();
    await until(() => busy.size >= 3, 15_000, 'three 503 answers');

    // Phase 3: connections reset.
    let resets = 0;
    sink.handler = () => {
      resets++;
      return 'reset';
    };
    await until(() => resets >= 3, 15_000, 'three resets');

    // Phase 4: accepts.
    sink.handler = () => ({ status: 202, body: '{}' });
    await until(
      () => h.delivery.stats().breakers[endpoint]!.state === 'closed' && sink.acceptedUuids.length > 0,
      15_000,
      'recovery',
    );
    tracking = false;
    await producer;
    const result = await h.delivery.flush(15_000);
    expect(result).toMatchObject({ pending: 0, timedOut: false });

    // No event lost, each delivered once.
    const expected = tracked.map((r) => r.uuid);
    expect(new Set(sink.acceptedUuids)).toEqual(new Set(expected));
    expect(sink.acceptedUuids).toHaveLength(expected.length);
    expect(await h.outbox.listDeadLetters()).toEqual([]);

    // Every request after a 503 came at least as late as its Retry-After said.
    const requests = sink.requests;
    for (let i = 0; i + 1 < requests.length; i++) {
      if (busy.has(requests[i]!)) {
        expect(requests[i + 1]!.atMs - requests[i]!.atMs).toBeGreaterThanOrEqual(1_000 - 2);
      }
    }

    // The breaker opened, and closed again only through a half-open probe.
    const seen = states();
    expect(seen[0]).toBe('open');
    const closedAt = seen.lastIndexOf('closed');
    expect(seen[closedAt - 1]).toBe('half-open');
    expect(seen.filter((s) => s === 'open').length).toBeGreaterThanOrEqual(2);
    // Failed batches were given back to the outbox each time, never held through a wait.
    expect(h.delivery.stats().retried).toBeGreaterThanOrEqual(6);
  });
});
