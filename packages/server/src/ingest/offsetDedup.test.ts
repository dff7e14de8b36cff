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

  it('without a send time: a batch sent again unchanged is a duplicate, events of other offsets are not', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const click = (offset: number) => ({ event: 'click', distinct_id: 7, offset, properties: { b: [1, 2] } });
    const api_key = s.project.writeKey;
    expect((await s.post('/batch/', { api_key, batch: [click(20), click(900)] })).status).toBe(200);
    expect((await s.post('/batch/', { api_key, batch: [click(20), click(900)] })).status).toBe(200);
    // A later click with the same properties, another offset: an event of its own.
    expect((await s.post('/e/', { ...click(40), api_key })).status).toBe(200);
    // The same on /ingest as on the capture routes.
    const native = await s.post('/ingest', [click(900)], { authorization: `Bearer ${api_key}` });
    expect(native.json).toMatchObject({ accepted: 0, duplicates: 1 });
    expect(await s.personEvents('7')).toHaveLength(3);
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

describe('PostHog events with an offset, no uuid and no timestamp, in a request with a send time', () => {
  const click = (offset: number) => ({
    event: 'clicked',
    distinct_id: 'clicker',
    offset,
    properties: { button: 'buy' },
  });

  it('separate events with the same content are each stored, in one batch or in later ones', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const api_key = s.project.writeKey;
    const t = Date.now();
    // posthog-js: its send time as the `_` query parameter; two clicks 4 s apart in one batch.
    expect(await s.post(`/e/?_=${t}`, { api_key, batch: [click(5000), click(1000)] })).toEqual({
      status: 200,
      json: { status: 1 },
    });
    // A third click, in a later batch.
    expect((await s.post(`/batch/?_=${t + 3000}`, { api_key, batch: [click(200)] })).status).toBe(200);
    // A fourth, with the send time in the body (posthog-node's sent_at).
    const sent_at = new Date(t + 9000).toISOString();
    expect((await s.post('/batch/', { api_key, batch: [click(200)], sent_at })).status).toBe(200);
    expect(await s.personEvents('clicker')).toHaveLength(4);
  });

  it('a resend of a batch is stored once, sent unchanged or with offsets and send time recomputed', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const api_key = s.project.writeKey;
    const t = Date.now();
    // Two clicks, 5 s and 1 s before the client sent them at t by its clock.
    const sendAt = (sentMs: number) =>
      s.post(`/e/?_=${sentMs}`, { api_key, batch: [click(5000 + sentMs - t), click(1000 + sentMs - t)] });
    const before = Date.now();
    expect((await sendAt(t)).status).toBe(200);
    const after = Date.now();
    expect((await sendAt(t)).status).toBe(200);
    expect((await sendAt(t + 7000)).status).toBe(200);
    const sent_at = new Date(t + 60_000).toISOString();
    const body = { api_key, batch: [click(65_000), click(61_000)], sent_at };
    expect((await s.post('/batch/', body)).status).toBe(200);
    const stored = (await s.personEvents('clicker')).map((e) => Date.parse(e.timestamp)).sort();
    expect(stored).toHaveLength(2);
    // Dated by the first send: its receive time minus each offset.
    expect(stored[1]! - stored[0]!).toBe(4000);
    expect(stored[1]).toBeGreaterThanOrEqual(before - 1000);
    expect(stored[1]).toBeLessThanOrEqual(after - 1000);
  });

  it('is deduplicated as the same event with the timestamp send time minus offset', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const t = Date.parse('2026-03-01T10:00:00.000Z');
    const sent = await s.post(`/batch/?_=${t}`, { api_key: s.project.writeKey, batch: [click(1500)] });
    expect(sent.status).toBe(200);
    const { offset: _offset, ...event } = click(1500);
    const auth = { authorization: `Bearer ${s.project.writeKey}` };
    const same = await s.post('/ingest', [{ ...event, timestamp: '2026-03-01T09:59:58.500Z' }], auth);
    expect(same.json).toMatchObject({ accepted: 0, duplicates: 1 });
    const later = await s.post('/ingest', [{ ...event, timestamp: '2026-03-01T09:59:58.501Z' }], auth);
    expect(later.json).toMatchObject({ accepted: 1, duplicates: 0 });
  });

  it('an offset that dates the event outside the range of dates is refused naming offset, not timestamp', async () => {
    const s = await startIngestServer('sqlite', cleanups);
    const r = await s.post('/batch/', {
      api_key: s.project.writeKey,
      batch: [{ event: 'far', distinct_id: 'o', offset: 1e20 }],
    });
    expect(r.status).toBe(400);
    expect(r.json.detail).toMatch(
      /^event 0: offset must be the milliseconds from the event to the sending of its batch/,
    );
    expect(await s.personEvents('o')).toEqual([]);
  });
});
