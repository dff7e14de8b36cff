import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { testPlatform } from './delivery.test-helpers.js';
import { resolveDeliveryOptions, withWaitFloors } from './deliveryOptions.js';
import { EndpointChannel } from './EndpointChannel.js';

function channel(): EndpointChannel {
  const options = withWaitFloors(
    resolveDeliveryOptions({
      endpoints: [{ destination: 'custom', name: 'lb', send: async () => {} }],
      retry: { initialMs: 1_000, maxMs: 60_000 },
    }),
  );
  return new EndpointChannel(options.endpoints[0]!, options, {
    outbox: createMemoryOutbox(),
    platform: testPlatform(),
    logger: silentLogger,
    emit: () => {},
  });
}

const T = 1_700_000_000_000;
const failed503 = { kind: 'failed', failure: 'retryable', reason: 'HTTP 503' } as const;
const accepted = { kind: 'accepted', rejected: [] } as const;

/**
 * Several batches in flight to one endpoint (a load balancer, one of whose servers fails): a
 * failure settles first, the other requests of the wave are accepted after it.
 */
describe('the backoff of an endpoint that answers some requests of a wave and fails others', () => {
  it('starts over with any success, also of a request sent before the failure (a backoff of our own)', () => {
    const c = channel();
    for (let wave = 0; wave < 10; wave++) {
      const now = T + wave * 100_000;
      const attempts = [c.beginAttempt(), c.beginAttempt(), c.beginAttempt(), c.beginAttempt()];
      expect(c.settle(failed503, now, attempts[0])).toBeGreaterThan(0);
      // Two in three go through: the wait ends, and the sequence starts again.
      expect(c.settle(accepted, now + 10, attempts[1])).toBe(0);
      expect(c.snapshot(now + 10).retryAtMs).toBeNull();
    }
  });

  it('keeps a wait the endpoint asked for (Retry-After) though requests sent before it are accepted', () => {
    const c = channel();
    const attempts = [c.beginAttempt(), c.beginAttempt()];
    const wait = c.settle({ ...failed503, retryAfterMs: 5_000 }, T, attempts[0]);
    expect(wait).toBeGreaterThanOrEqual(5_000);
    expect(c.settle(accepted, T + 10, attempts[1])).toBeGreaterThan(4_000);
    // A request begun after it was asked for, and accepted, ends it.
    expect(c.settle(accepted, T + 5_100, c.beginAttempt())).toBe(0);
  });

  it('a failure without Retry-After while a Retry-After runs neither shortens it nor lets a late success end it', async () => {
    const c = channel();
    const [a1, a2, a3] = [c.beginAttempt(), c.beginAttempt(), c.beginAttempt()];
    expect(c.settle({ ...failed503, retryAfterMs: 30_000 }, T, a1)).toBeGreaterThanOrEqual(30_000);
    // A reset of a request sent before the 429/503 was answered: its own backoff is shorter.
    expect(c.settle(failed503, T + 10, a2)).toBeGreaterThan(29_000);
    // A late 200 of a request sent before it: the wait the endpoint asked for holds.
    expect(c.settle(accepted, T + 20, a3)).toBeGreaterThan(29_000);
    expect(c.snapshot(T + 20).retryAtMs).toBeGreaterThanOrEqual(T + 30_000);
  });
});
