import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { makeRecords, Sink, startDelivery, track } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A memory outbox whose `claim` rejects while `failing` is set, counting every call. */
function outboxWithFailingClaims(): { outbox: Outbox; calls: () => number; failing: { on: boolean } } {
  const inner = createMemoryOutbox();
  const failing = { on: true };
  let calls = 0;
  const claim: Outbox['claim'] = (maxEvents, maxBytes) => {
    calls++;
    if (failing.on) return Promise.reject(new Error('EACCES: permission denied, open segment'));
    return inner.claim(maxEvents, maxBytes);
  };
  const outbox = new Proxy(inner, {
    get(target, key) {
      if (key === 'claim') return claim;
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { outbox, calls: () => calls, failing };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An outbox whose claims keep failing (an unwritable directory): delivery backs off instead of
 * claiming again at once (it claimed tens of thousands of times a second), says why in
 * `stats().lastError`, and `flush()` answers at once instead of spinning until its timeout.
 */
describe('when the outbox cannot hand out a batch', () => {
  it('backs off between claims, reports the error, and flush returns promptly', async () => {
    const sink = new Sink();
    sink.port = 18941;
    await sink.up();
    cleanups.push(() => sink.down());
    const { outbox, calls, failing } = outboxWithFailingClaims();
    const h = startDelivery(
      {
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        intervalMs: 20,
        retry: { initialMs: 50, maxMs: 200 },
      },
      { outbox },
    );
    cleanups.push(() => h.delivery.shutdown(0));
    const records = makeRecords(2);
    track(h, records);

    await sleep(1_500);
    // Waits of 50, 100, 200, 200 … ms: about ten claims in 1.5 s (the defect made thousands).
    expect(calls()).toBeGreaterThanOrEqual(2);
    expect(calls()).toBeLessThan(40);
    expect(h.delivery.stats().lastError).toMatchObject({
      endpoint: 'outbox',
      reason: expect.stringContaining('EACCES') as unknown as string,
    });

    const before = calls();
    const started = Date.now();
    const result = await h.delivery.flush(5_000);
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(result).toMatchObject({ sent: 0, pending: 2, timedOut: false });
    expect(calls() - before).toBeLessThanOrEqual(3);

    // Claims work again: delivery picks up where it was, nothing lost.
    failing.on = false;
    const after = await h.delivery.flush(5_000);
    expect(after).toMatchObject({ sent: 2, pending: 0, timedOut: false });
    expect(sink.acceptedUuids).toEqual(records.map((r) => r.uuid));
    expect(sink.requests).toHaveLength(1);
  });
});
