import type { CircuitBreakerSnapshot } from '@homing/resilience';
import { describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import type { Harness, SinkHandler } from './delivery.test-helpers.js';
import { makeRecords, Sink, startDelivery, track, useCleanups } from './delivery.test-helpers.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { CUT_REQUEST_FAILS_AFTER_MS } from './deliveryOptions.js';
import { breakerStateKey } from './EndpointChannel.js';

const cleanups = useCleanups();
const sink = (handler: SinkHandler): Promise<Sink> => cleanups.sink(handler);

function saved(outbox: Outbox, s: Sink): Promise<CircuitBreakerSnapshot | undefined> {
  return outbox.getState<CircuitBreakerSnapshot>(breakerStateKey(`homing:${s.url}`));
}

function failuresIn(snapshot: CircuitBreakerSnapshot | undefined): number | undefined {
  return (snapshot?.breaker as { count?: number } | undefined)?.count;
}

/**
 * A CLI run: a new Delivery on the outbox the runs share, one event, then what the process does
 * at its end (`exit`: the Node exit flush; `flush`: an explicit flush), then shutdown.
 */
async function run(
  outbox: Outbox,
  input: DeliveryOptionsInput,
  end: (h: Harness) => Promise<unknown>,
): Promise<void> {
  const h = startDelivery(input, { outbox });
  try {
    track(h, makeRecords(1));
    await end(h);
  } finally {
    await h.delivery.shutdown(0);
  }
}

/** Delivery to `s` with a breaker of 3 and one attempt per run: the next one waits (full jitter under a minute) past the flush. */
function oneAttemptPerRun(s: Sink): DeliveryOptionsInput {
  return {
    endpoints: [{ destination: 'homing', host: s.url, key: 'k' }],
    intervalMs: 60_000,
    retry: { initialMs: 60_000, maxMs: 60_000 },
    breaker: { threshold: 3, halfOpenAfterMs: 60_000, initialHalfOpenAfterMs: 60_000 },
  };
}

/**
 * Short-lived processes against a dead endpoint: each run fails once or twice and exits, never
 * `threshold` times. The breaker's count of failures in a row is saved, so the runs together
 * open it, and later runs skip the endpoint until its open period (here all of `halfOpenAfterMs`) ends.
 */
describe('the circuit breaker across short runs', () => {
  it('503 on every run: opens after `threshold` failed attempts in all, and the next run sends nothing', async () => {
    const s = await sink(() => ({ status: 503 }));
    const outbox = createMemoryOutbox();
    const input = oneAttemptPerRun(s);
    // 1.5 s: the 503 comes back in milliseconds, but on a loaded machine (load 6) it once came after
    // a 300 ms flush, and the shutdown then cut the attempt before it counted.
    const flush = (h: Harness) => h.delivery.flush(1_500);

    await run(outbox, input, flush);
    let runs = 1;
    expect(s.requests.length).toBeGreaterThanOrEqual(1);
    const afterFirst = await saved(outbox, s);
    expect(afterFirst?.state).toBe('closed');
    expect(failuresIn(afterFirst)).toBe(s.requests.length);

    for (let i = 0; i < 5 && (await saved(outbox, s))?.state !== 'open'; i++) {
      await run(outbox, input, flush);
      runs++;
    }
    expect((await saved(outbox, s))?.state).toBe('open');
    // Opened by the third failure in a row, whichever run made it: no request after it.
    expect(s.requests).toHaveLength(3);

    await run(outbox, input, flush);
    runs++;
    expect(s.requests).toHaveLength(3);
    // Each run's event is kept. Usually 4 runs; 3 when the full-jitter backoff (up to 60 s) drew
    // under the 1.5 s flush once and a run made two attempts.
    expect((await outbox.size()).events).toBe(runs);
  });

  it('a success after failures saves the count back to 0', async () => {
    let fail = true;
    const s = await sink(() => (fail ? { status: 503 } : { status: 202 }));
    const outbox = createMemoryOutbox();
    const input = oneAttemptPerRun(s);
    await run(outbox, input, (h) => h.delivery.flush(1_500));
    expect(failuresIn(await saved(outbox, s))).toBeGreaterThanOrEqual(1);
    fail = false;
    await run(outbox, input, (h) => h.delivery.flush(5_000));
    expect(s.acceptedUuids.length).toBeGreaterThanOrEqual(1);
    expect(await saved(outbox, s)).toMatchObject({ state: 'closed', breaker: { count: 0 } });
  });

  it(
    'an endpoint that never answers: a request the exit flush cuts counts once it waited CUT_REQUEST_FAILS_AFTER_MS, not sooner',
    { timeout: 30_000 },
    async () => {
      const s = await sink(() => 'hang');
      const outbox = createMemoryOutbox();
      const input = (exitFlushTimeoutMs: number): DeliveryOptionsInput => ({
        endpoints: [{ destination: 'homing', host: s.url, key: 'k' }],
        intervalMs: 60_000,
        requestTimeoutMs: 20_000,
        exitFlushTimeoutMs,
        breaker: { threshold: 2, halfOpenAfterMs: 60_000, initialHalfOpenAfterMs: 60_000 },
      });
      const exit = (h: Harness) => h.platform.exit();

      // Cut at 200 ms: says nothing about the endpoint.
      await run(outbox, input(200), exit);
      expect(s.requests).toHaveLength(1);
      expect(failuresIn(await saved(outbox, s)) ?? 0).toBe(0);

      // Cut after it waited longer: a failed attempt, saved before the exit hook resolves.
      const longer = CUT_REQUEST_FAILS_AFTER_MS + 300;
      await run(outbox, input(longer), exit);
      expect(s.requests).toHaveLength(2);
      expect(await saved(outbox, s)).toMatchObject({ state: 'closed', breaker: { count: 1 } });
      await run(outbox, input(longer), exit);
      expect(s.requests).toHaveLength(3);
      expect((await saved(outbox, s))?.state).toBe('open');

      // Open: the next run's exit flush sends nothing, and does not wait out its budget.
      const startedAt = Date.now();
      await run(outbox, input(longer), exit);
      expect(s.requests).toHaveLength(3);
      expect(Date.now() - startedAt).toBeLessThan(longer);
      expect((await outbox.size()).events).toBe(4);
    },
  );
});
