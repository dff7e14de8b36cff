import type { CircuitBreakerSnapshot } from '@homing/resilience';
import { describe, expect, it } from 'vitest';
import type { Outbox } from '../outbox/outbox.js';
import { makeRecords, startDelivery, track, until, useCleanups } from './delivery.test-helpers.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { breakerStateKey } from './EndpointChannel.js';

const cleanups = useCleanups();

/**
 * QA: a server restart of a few seconds (connections refused) opened the endpoint's circuit for
 * its whole 30 s period, so delivery stalled for 30 s after the server was back. The circuit now
 * opens for 1 s first, doubling with each failed probe up to `halfOpenAfterMs` (30 s), and a
 * later process restoring the saved state goes on from where the last one was.
 */
function options(url: string): DeliveryOptionsInput {
  // The breaker's periods are the defaults: only the way to opening it is made quick.
  return {
    endpoints: [{ destination: 'homing', host: url, key: 'k' }],
    intervalMs: 20,
    retry: { initialMs: 100, maxMs: 200 },
    breaker: { threshold: 3 },
  };
}

function saved(outbox: Outbox, url: string): Promise<CircuitBreakerSnapshot | undefined> {
  return outbox.getState<CircuitBreakerSnapshot>(breakerStateKey(`homing:${url}`));
}

/**
 * How long the saved open circuit refuses, counted from when it opened; the snapshot takes both
 * from the wall clock at two moments, so it may be off by a millisecond or two.
 */
const periodOf = (s: CircuitBreakerSnapshot | undefined): number => s!.openUntil - s!.since;
const SLACK_MS = 50;

describe('the circuit breaker’s open periods', () => {
  it('a server down for a moment: open for 1 s, not 30, and delivery goes on once it is back', async () => {
    const sink = await cleanups.sink(() => ({ status: 202, body: '{}' }));
    const h = startDelivery(options(sink.url));
    cleanups.add(() => h.delivery.shutdown(0));
    await sink.down();
    const records = makeRecords(5);
    track(h, records);
    await until(
      async () => (await saved(h.outbox, sink.url))?.state === 'open',
      10_000,
      'the circuit to open',
    );
    const opened = await saved(h.outbox, sink.url);
    expect(opened!.openings).toBe(1);
    expect(periodOf(opened)).toBeLessThanOrEqual(1_000 + SLACK_MS);

    await sink.up();
    // Within a 30 s period this would time out; the first probe comes a second after opening.
    await until(
      () => sink.acceptedUuids.length === records.length,
      10_000,
      'delivery once the server is back',
    );
    expect(sink.acceptedUuids).toEqual(records.map((r) => r.uuid));
    await until(
      async () => (await saved(h.outbox, sink.url))?.state === 'closed',
      5_000,
      'the saved state closed',
    );
    expect((await saved(h.outbox, sink.url))!.openings).toBe(0);
  });

  it('each failed probe doubles the period, up to halfOpenAfterMs; a later process goes on from the saved state', async () => {
    const sink = await cleanups.sink(() => ({ status: 202, body: '{}' }));
    await sink.down();
    const first = startDelivery(options(sink.url));
    cleanups.add(() => first.delivery.shutdown(0));
    track(first, makeRecords(1));
    // Opened, then a probe a second later fails: open again, for 2 s.
    await until(async () => (await saved(first.outbox, sink.url))?.openings === 2, 10_000, 'a failed probe');
    const second = await saved(first.outbox, sink.url);
    expect(second!.state).toBe('open');
    expect(periodOf(second)).toBeGreaterThan(1_000);
    expect(periodOf(second)).toBeLessThanOrEqual(2_000 + SLACK_MS);
    await first.delivery.shutdown(0);

    // The next process, its period over (as after a wait): its probe fails, and the circuit opens
    // for the third period of the sequence, not the first.
    await first.outbox.setState(breakerStateKey(`homing:${sink.url}`), {
      ...second,
      openUntil: Date.now() - 1,
    });
    const next = startDelivery(options(sink.url), { outbox: first.outbox });
    cleanups.add(() => next.delivery.shutdown(0));
    next.delivery.notify(0, 0);
    await until(
      async () => (await saved(next.outbox, sink.url))?.openings === 3,
      10_000,
      'the next failed probe',
    );
    const third = await saved(next.outbox, sink.url);
    expect(periodOf(third)).toBeGreaterThan(2_000);
    expect(periodOf(third)).toBeLessThanOrEqual(4_000 + SLACK_MS);
  });

  it('halfOpenAfterMs caps the period; an initialHalfOpenAfterMs above it is that cap', async () => {
    const sink = await cleanups.sink(() => ({ status: 202, body: '{}' }));
    await sink.down();
    const h = startDelivery({
      ...options(sink.url),
      breaker: { threshold: 3, halfOpenAfterMs: 500, initialHalfOpenAfterMs: 5_000 },
    });
    cleanups.add(() => h.delivery.shutdown(0));
    track(h, makeRecords(1));
    await until(async () => (await saved(h.outbox, sink.url))?.openings === 2, 10_000, 'a failed probe');
    expect(periodOf(await saved(h.outbox, sink.url))).toBeLessThanOrEqual(500 + SLACK_MS);
  });
});
