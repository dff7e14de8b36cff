import { afterEach, describe, expect, it } from 'vitest';
import { startIngestServer } from '../routes/adminApi.test-helpers.js';

/**
 * A PostHog event dated by `offset` alone (no uuid, no timestamp) gets its time from the receive
 * time, which differs on every send: its derived uuid must not, or each resend is stored again.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PostHog events with an offset and neither uuid nor timestamp', () => {
  it('the same body sent three times, a second apart, is stored once, dated by its offset', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const body = {
      api_key: s.project.writeKey,
      batch: [{ event: 'offs', distinct_id: 'offset-person', offset: 500, properties: { a: 1 } }],
    };
    const sentFrom = Date.now();
    for (let i = 0; i < 3; i++) {
      if (i > 0) await sleep(1000);
      expect(await s.post('/batch/', body)).toEqual({ status: 200, json: { status: 1 } });
    }
    const sentTo = Date.now();
    const stored = await s.personEvents('offset-person');
    expect(stored).toHaveLength(1);
    // The time derived from the first send's receive time stays the stored timestamp.
    const ts = Date.parse(stored[0]!.timestamp);
    expect(ts).toBeGreaterThanOrEqual(sentFrom - 500 - 1000);
    expect(ts).toBeLessThanOrEqual(sentTo);
  });

  it('hashes as the same event without a timestamp, on the capture routes as on /ingest', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const event = { event: 'offs', distinct_id: 7, properties: { b: [1, 2] } };
    const untimed = await s.post('/ingest', [event], { authorization: `Bearer ${s.project.writeKey}` });
    expect(untimed.json).toMatchObject({ accepted: 1, duplicates: 0 });
    const withOffset = await s.post('/e/', { ...event, offset: 20, api_key: s.project.writeKey });
    expect(withOffset.status).toBe(200);
    const native = await s.post('/ingest', [{ ...event, offset: 9000 }], {
      authorization: `Bearer ${s.project.writeKey}`,
    });
    expect(native.json).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(await s.personEvents('7')).toHaveLength(1);
  });

  it('an event with its own uuid or timestamp is keyed by them as before', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const batch = [
      { event: 'offs', distinct_id: 'k', offset: 10, uuid: '0190d1f8-0000-7000-8000-000000000001' },
      { event: 'offs', distinct_id: 'k', offset: 10, uuid: '0190d1f8-0000-7000-8000-000000000002' },
      { event: 'offs', distinct_id: 'k', offset: 10, timestamp: '2026-03-01T00:00:00Z' },
      { event: 'offs', distinct_id: 'k', offset: 10, timestamp: '2026-03-01T00:00:01Z' },
    ];
    expect((await s.post('/batch/', { api_key: s.project.writeKey, batch })).status).toBe(200);
    expect(await s.personEvents('k')).toHaveLength(4);
  });
});
