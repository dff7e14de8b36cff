import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

/**
 * Every wire format, end to end: after `DELETE /api/persons/:id`, events of the person from
 * before the erasure that arrive late (from a client's outbox) are answered as the format
 * answers success and not stored; the native answer counts them as `erased`.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const start = (backend: (typeof BACKENDS)[number]): Promise<IngestServer> =>
  startIngestServer(backend, cleanups);

const OLD = '2026-01-01T00:00:00.000Z';
const LATER = () => new Date(Date.now() + 3_600_000).toISOString();

describe.each(BACKENDS)('ingest after an erasure (%s)', (backend) => {
  it('native: old events of the person are answered as erased, neither accepted nor rejected', async () => {
    const s = await start(backend);
    const auth = { authorization: `Bearer ${s.project.writeKey}` };
    const first = await s.post('/ingest', [{ event: 'a', distinct_id: 'alice', timestamp: OLD }], auth);
    expect(first.json).toEqual({ accepted: 1, duplicates: 0, erased: 0, rejected: [] });
    expect(await s.erase('alice')).toBe(1);
    const late = await s.post(
      '/ingest',
      [
        { event: 'a', distinct_id: 'alice', timestamp: OLD },
        { event: 'b', distinct_id: 'alice', timestamp: OLD },
        { event: 'c', distinct_id: 'bob', timestamp: OLD },
        { event: 'd', distinct_id: 'alice', timestamp: LATER() },
        { event: 'e', distinct_id: '', timestamp: OLD },
      ],
      auth,
    );
    expect(late.status).toBe(202);
    expect(late.json).toEqual({
      accepted: 2,
      duplicates: 0,
      erased: 2,
      rejected: [{ index: 4, error: expect.any(String) }],
    });
    expect((await s.personEvents('alice')).length).toBe(1);
    expect((await s.personEvents('bob')).length).toBe(1);
  });

  it('PostHog: answers { status: 1 } and stores nothing old of the person', async () => {
    const s = await start(backend);
    await s.erase('alice');
    const r = await s.post('/batch/', {
      api_key: s.project.writeKey,
      batch: [
        { event: 'a', distinct_id: 'alice', timestamp: OLD },
        { event: 'b', properties: { distinct_id: 'alice' }, timestamp: OLD },
      ],
    });
    expect(r).toEqual({ status: 200, json: { status: 1 } });
    expect((await s.personEvents('alice')).length).toBe(0);
  });

  it('Segment: answers { success: true } and stores nothing old of the person', async () => {
    const s = await start(backend);
    await s.erase('ünï 👤');
    const r = await s.post('/v1/batch', {
      writeKey: s.project.writeKey,
      batch: [
        { type: 'track', event: 'a', userId: 'ünï 👤', timestamp: OLD, messageId: 'm-1' },
        { type: 'identify', userId: 'ünï 👤', timestamp: OLD, messageId: 'm-2' },
      ],
    });
    expect(r).toEqual({ status: 200, json: { success: true } });
    expect((await s.personEvents('ünï 👤')).length).toBe(0);
  });

  it('bad input is answered as before for an erased person', async () => {
    const s = await start(backend);
    const auth = { authorization: `Bearer ${s.project.writeKey}` };
    await s.erase('alice');
    const r = await s.post(
      '/ingest',
      [
        { event: 'a', distinct_id: 'x'.repeat(1001), timestamp: OLD },
        { event: 'a', distinct_id: '', timestamp: OLD },
        { event: 'a', distinct_id: 'alice', timestamp: 'not a date' },
      ],
      auth,
    );
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ accepted: 0, duplicates: 0, erased: 0 });
    expect(r.json.rejected.map((x: { index: number }) => x.index)).toEqual([0, 1, 2]);
    // Every event invalid: PostHog and Segment answer 400 as they did.
    const ph = await s.post('/batch/', {
      api_key: s.project.writeKey,
      batch: [{ event: 'a', distinct_id: '', timestamp: OLD }],
    });
    expect(ph.status).toBe(400);
  });
});
