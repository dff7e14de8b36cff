import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, post, type Running, startServerOn } from './harness.js';

const batch = (n: number) => Array.from({ length: n }, (_, i) => ({ event: 'e', distinct_id: `d${i}` }));

describe('homing_ingest_events_total counts the events of requests refused whole', () => {
  let s: Running;
  beforeAll(async () => {
    s = await startServerOn('sqlite', { rateLimit: { eventsPerSecond: 1, burst: 5 }, maxBatchEvents: 20 });
  });
  afterAll(async () => {
    await s?.close();
  });

  async function counted(): Promise<string[]> {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('homing_ingest_events_total{'));
  }

  it('as outcome "refused", by format: too many events (413), a wrong key (401), the rate limit (PostHog routes: 503)', async () => {
    const key = s.project.writeKey;
    expect((await post(`${s.url}/ingest`, batch(21), bearer(key))).status).toBe(413);
    expect((await post(`${s.url}/ingest`, batch(3), bearer('hw_unknown'))).status).toBe(401);
    expect((await post(`${s.url}/batch/`, { api_key: key, batch: batch(5) })).status).toBe(200);
    expect((await post(`${s.url}/batch/`, { api_key: key, batch: batch(4) })).status).toBe(503);
    // A body that is not JSON has no count: nothing is added for it.
    expect((await post(`${s.url}/v1/batch`, '{"batch":[', { authorization: 'Basic eDo=' })).status).toBe(400);
    expect((await counted()).sort()).toEqual([
      'homing_ingest_events_total{format="native",outcome="refused"} 24',
      'homing_ingest_events_total{format="posthog",outcome="accepted"} 5',
      'homing_ingest_events_total{format="posthog",outcome="refused"} 4',
    ]);
  });
});
