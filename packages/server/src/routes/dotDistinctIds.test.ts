import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, type IngestServer, startIngestServer } from './adminApi.test-helpers.js';

/**
 * Every wire format refuses `.` and `..` as a distinct id, by event and with the reason: URL
 * parsers resolve them as path steps, so a person with such an id could be neither looked up nor
 * erased at `/api/persons/<id>` (the lookup of `..` answered the whole project's events).
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const start = (backend: (typeof BACKENDS)[number]): Promise<IngestServer> =>
  startIngestServer(backend, cleanups);

const WHY = 'is refused: URLs read it as a path step';

async function storedIds(s: IngestServer): Promise<string[]> {
  const events = await s.store.queryEvents({ projectId: s.project.id, limit: 100 });
  return events.map((e) => e.distinctId).sort();
}

describe.each(BACKENDS)('distinct ids "." and ".." at ingest (%s)', (backend) => {
  it('native: refused by index, the rest of the batch stored', async () => {
    const s = await start(backend);
    const r = await s.post(
      '/ingest',
      [
        { event: 'a', distinct_id: '..' },
        { event: 'a', distinct_id: '.' },
        { event: 'a', distinct_id: 'alice' },
        { event: 'a', properties: { distinct_id: '..' } },
        { event: 'a', distinct_id: '...' },
      ],
      { authorization: `Bearer ${s.project.writeKey}` },
    );
    expect(r.status).toBe(202);
    expect(r.json).toEqual({
      accepted: 2,
      duplicates: 0,
      erased: 0,
      rejected: [
        { index: 0, error: expect.stringContaining(`distinct_id ".." ${WHY}`) },
        { index: 1, error: expect.stringContaining(`distinct_id "." ${WHY}`) },
        { index: 3, error: expect.stringContaining(`distinct_id ".." ${WHY}`) },
      ],
    });
    expect(await storedIds(s)).toEqual(['...', 'alice']);
  });

  it('PostHog: dropped from a batch; a batch of only such events is a 400 in PostHog shape', async () => {
    const s = await start(backend);
    const kept = await s.post('/batch/', {
      api_key: s.project.writeKey,
      batch: [
        { event: 'a', distinct_id: '..' },
        { event: 'a', properties: { $distinct_id: '.' } },
        { event: 'a', distinct_id: 'bob' },
      ],
    });
    expect(kept).toEqual({ status: 200, json: { status: 1 } });
    const refused = await s.post('/i/v0/e/', [{ event: '$pageview', distinct_id: '..' }], {
      authorization: `Bearer ${s.project.writeKey}`,
    });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      type: 'validation_error',
      code: 'invalid_payload',
      detail: expect.stringContaining(`event 0: distinct_id ".." ${WHY}`),
      attr: null,
    });
    expect(await storedIds(s)).toEqual(['bob']);
  });

  it('Segment: userId or anonymousId, named; a body of only such messages is a 400', async () => {
    const s = await start(backend);
    const auth = { authorization: `Basic ${Buffer.from(`${s.project.writeKey}:`).toString('base64')}` };
    const kept = await s.post(
      '/v1/batch',
      {
        batch: [
          { type: 'track', event: 'a', userId: '..', anonymousId: 'anon-1' },
          { type: 'track', event: 'a', anonymousId: '.' },
          { type: 'identify', userId: '', anonymousId: '..' },
          { type: 'track', event: 'a', userId: 'carol' },
        ],
      },
      auth,
    );
    expect(kept).toEqual({ status: 200, json: { success: true } });
    const refused = await s.post('/v1/track', { event: 'a', userId: '.' }, auth);
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({
      success: false,
      error: 'invalid-request',
      message: expect.stringContaining(`message 0: userId "." ${WHY}`),
    });
    const anon = await s.post('/v1/page', { anonymousId: '..' }, auth);
    expect(anon.json.message).toContain(`anonymousId ".." ${WHY}`);
    expect(await storedIds(s)).toEqual(['carol']);
  });
});
