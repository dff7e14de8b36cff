import { describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { createTelemetry } from '../index.node.js';
import { testPlatform } from './delivery.test-helpers.js';

/**
 * Delivery's own signals (one for requests in flight, one for shutdown) are shared by every
 * attempt and every waiting flush: each used to add its own 'abort' listener, and twelve at
 * once made Node print a MaxListenersExceededWarning on the app's stderr. The test setup fails
 * any test during which Node emits one; the counts here say why.
 */
describe('delivery signals shared by many attempts and flushes', () => {
  it('three fanout endpoints with four requests each in flight: every event sent, no warning', async () => {
    let inFlight = 0;
    let most = 0;
    const received = new Set<string>();
    const slow = async (events: readonly { uuid: string }[]): Promise<void> => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (const e of events) received.add(e.uuid);
      inFlight--;
    };
    const client = createTelemetry({
      storage: createMemoryOutbox(),
      platform: testPlatform(),
      endpoints: ['a', 'b', 'c'].map((name) => ({ destination: 'custom' as const, name, send: slow })),
      delivery: { mode: 'fanout', concurrency: 4, batchSize: 10, intervalMs: 10 },
    });
    for (let i = 0; i < 400; i++) client.track('e', { i });
    await client.flush({ timeoutMs: 20_000 });
    expect(received.size).toBe(400);
    expect(most).toBeGreaterThanOrEqual(11);
    await client.shutdown({ timeoutMs: 2_000 });
  });

  it('twelve flushes waiting out a retry at once: all end at shutdown, no warning', async () => {
    const client = createTelemetry({
      storage: createMemoryOutbox(),
      platform: testPlatform(),
      endpoints: [
        {
          destination: 'custom',
          send: async () => {
            throw Object.assign(new Error('unavailable'), { status: 503 });
          },
        },
      ],
      delivery: { intervalMs: 10, retry: { initialMs: 60_000, maxMs: 60_000 } },
    });
    client.track('e');
    const flushes = Array.from({ length: 12 }, () => client.flush({ timeoutMs: 120_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.shutdown({ timeoutMs: 1_000 });
    await Promise.all(flushes);
    expect((await client.stats()).failedAttempts).toBeGreaterThanOrEqual(1);
  });
});
