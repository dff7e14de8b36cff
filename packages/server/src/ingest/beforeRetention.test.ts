import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKENDS, type IngestServer, startIngestServer } from '../routes/adminApi.test-helpers.js';

/**
 * Events dated before the retention period, end to end on every wire format and both stores:
 * an ordinary one (a clock that may be wrong) is stored at its receive time, but an erased
 * person's stays erased, and one whose sender asserts its timestamps (an import) is refused.
 */

const DAY_MS = 86_400_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const start = (backend: (typeof BACKENDS)[number]): Promise<IngestServer> =>
  startIngestServer(backend, cleanups, { retentionDays: 90 });

const EPOCH = '1970-01-02T00:00:00.000Z';
const agoIso = (days: number): string => new Date(Date.now() - days * DAY_MS).toISOString();

describe.each(BACKENDS)('events dated before the retention period (%s)', (backend) => {
  it("an erased person's late event from a clock reset to 1970 stays erased, on every route", async () => {
    const s = await start(backend);
    const auth = { authorization: `Bearer ${s.project.writeKey}` };
    expect((await s.post('/ingest', [{ event: 'e0', distinct_id: 'alice' }], auth)).json).toMatchObject({
      accepted: 1,
    });
    await s.erase('alice');
    const late = await s.post(
      '/ingest',
      [
        { event: 'late', distinct_id: 'alice', uuid: randomUUID(), timestamp: EPOCH },
        // Another person's, alike: stored at the receive time, as before.
        { event: 'late', distinct_id: 'bob', uuid: randomUUID(), timestamp: EPOCH },
      ],
      auth,
    );
    expect(late.json).toEqual({ accepted: 1, duplicates: 0, erased: 1, rejected: [] });
    expect(
      (
        await s.post('/batch/', {
          api_key: s.project.writeKey,
          batch: [{ event: 'late', distinct_id: 'alice', timestamp: EPOCH }],
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await s.post('/v1/batch', {
          writeKey: s.project.writeKey,
          batch: [
            { type: 'track', event: 'late', userId: 'alice', timestamp: EPOCH, messageId: randomUUID() },
          ],
        })
      ).status,
    ).toBe(200);
    expect(await s.personEvents('alice')).toEqual([]);
    const [bob] = await s.personEvents('bob');
    expect(bob?.originalTimestamp).toBe(EPOCH);
    expect(Date.parse(bob!.timestamp)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("an erased person's event queued before the erasure, sent by a clock reset since (sent_at 1970 or in seconds), stays erased", async () => {
    const s = await start(backend);
    const auth = { authorization: `Bearer ${s.project.writeKey}` };
    const tracked = new Date(Date.now() - 60_000).toISOString();
    expect((await s.post('/ingest', [{ event: 'e0', distinct_id: 'carol' }], auth)).json).toMatchObject({
      accepted: 1,
    });
    await s.erase('carol');
    for (const sentAt of [EPOCH, Math.floor(Date.now() / 1000)]) {
      const late = await s.post(
        '/ingest',
        {
          batch: [
            { event: 'queued', distinct_id: 'carol', uuid: randomUUID(), timestamp: tracked },
            { event: 'queued', distinct_id: 'dan', uuid: randomUUID(), timestamp: tracked },
          ],
          sent_at: sentAt,
        },
        auth,
      );
      expect([sentAt, late.json]).toEqual([sentAt, { accepted: 1, duplicates: 0, erased: 1, rejected: [] }]);
    }
    expect(await s.personEvents('carol')).toEqual([]);
    // The other person's keep their own time, not the receive time the correction pointed past.
    expect((await s.personEvents('dan')).map((e) => [e.timestamp, e.originalTimestamp])).toEqual([
      [tracked, tracked],
      [tracked, tracked],
    ]);
  });

  it('an import keeps its timestamps as sent: no clock-skew correction by sent_at', async () => {
    const s = await start(backend);
    const when = agoIso(10);
    // The importer's clock runs an hour ahead.
    const sentAt = new Date(Date.now() + 3_600_000).toISOString();
    const migration = await s.post('/batch/', {
      api_key: s.project.writeKey,
      historical_migration: true,
      sent_at: sentAt,
      batch: [{ event: 'imported', distinct_id: 'hm2', timestamp: when }],
    });
    expect(migration.status).toBe(200);
    const imported = await s.post('/v1/import', {
      writeKey: s.project.writeKey,
      sentAt,
      batch: [{ type: 'track', event: 'imported', userId: 'sg2', timestamp: when, messageId: randomUUID() }],
    });
    expect(imported.status).toBe(200);
    for (const who of ['hm2', 'sg2']) {
      expect([who, (await s.personEvents(who)).map((e) => e.timestamp)]).toEqual([who, [when]]);
    }
    // The same batch sent live is corrected (by about the hour).
    const live = await s.post('/batch/', {
      api_key: s.project.writeKey,
      sent_at: sentAt,
      batch: [{ event: 'live', distinct_id: 'ph2', timestamp: when }],
    });
    expect(live.status).toBe(200);
    const [corrected] = await s.personEvents('ph2');
    expect(Date.parse(when) - Date.parse(corrected!.timestamp)).toBeGreaterThan(3_500_000);
  });

  it("a Segment message's own sentAt of null leaves the batch's sentAt to correct it", async () => {
    const s = await start(backend);
    const when = agoIso(1);
    const batchSentAt = new Date(Date.now() + 3_600_000).toISOString();
    const r = await s.post('/v1/batch', {
      writeKey: s.project.writeKey,
      sentAt: batchSentAt,
      batch: [
        { type: 'track', event: 'a', userId: 'sn', timestamp: when, sentAt: null, messageId: randomUUID() },
        { type: 'track', event: 'b', userId: 'sn', timestamp: when, messageId: randomUUID() },
      ],
    });
    expect(r.status).toBe(200);
    const stored = await s.personEvents('sn');
    expect(stored).toHaveLength(2);
    const [a, b] = ['a', 'b'].map((name) => stored.find((e) => e.event === name)!.timestamp);
    expect(a).toBe(b);
    expect(Date.parse(when) - Date.parse(a!)).toBeGreaterThan(3_500_000);
  });

  it('an import (asserted timestamps) older than the period is refused per event, naming the period', async () => {
    const s = await start(backend);
    const old = agoIso(200);
    const recent = agoIso(10);
    const reason = expect.stringMatching(/older than the retention period of 90 days/);

    // Native and PostHog: `$ignore_sent_at` on the event.
    const native = await s.post('/ingest', {
      api_key: s.project.writeKey,
      batch: [
        { event: 'imported', distinct_id: 'n', timestamp: old, properties: { $ignore_sent_at: true } },
        { event: 'imported', distinct_id: 'n', timestamp: recent, properties: { $ignore_sent_at: true } },
        // No assertion: a clock that may be wrong, kept at the receive time.
        { event: 'clock', distinct_id: 'n', timestamp: old },
      ],
    });
    expect(native.json).toEqual({
      accepted: 2,
      duplicates: 0,
      erased: 0,
      rejected: [{ index: 0, error: reason }],
    });
    const stored = await s.personEvents('n');
    expect(stored.map((e) => [e.event, e.timestamp === recent]).sort()).toEqual([
      ['clock', false],
      ['imported', true],
    ]);

    const ignoreSentAt = await s.post('/batch/', {
      api_key: s.project.writeKey,
      batch: [
        { event: 'imported', distinct_id: 'ph', timestamp: old, properties: { $ignore_sent_at: true } },
      ],
    });
    expect(ignoreSentAt.status).toBe(400);
    expect(ignoreSentAt.json.detail).toEqual(reason);

    // PostHog: posthog-node's `historicalMigration` marks the whole batch.
    const migration = await s.post('/batch/', {
      api_key: s.project.writeKey,
      historical_migration: true,
      batch: [
        { event: 'imported', distinct_id: 'hm', timestamp: old },
        { event: 'imported', distinct_id: 'hm', timestamp: recent },
      ],
    });
    expect(migration).toEqual({ status: 200, json: { status: 1 } });
    expect((await s.personEvents('hm')).map((e) => e.timestamp)).toEqual([recent]);

    // Segment: `/v1/import` is the historical route; `/v1/batch` keeps the receive-time stamp.
    const imported = await s.post('/v1/import', {
      writeKey: s.project.writeKey,
      batch: [{ type: 'track', event: 'imported', userId: 'sg', timestamp: old, messageId: randomUUID() }],
    });
    expect(imported.status).toBe(400);
    expect(imported.json.message).toEqual(
      expect.stringMatching(/^message 0: timestamp .* older than the retention period of 90 days/),
    );
    const batch = await s.post('/v1/batch', {
      writeKey: s.project.writeKey,
      batch: [{ type: 'track', event: 'live', userId: 'sg', timestamp: old, messageId: randomUUID() }],
    });
    expect(batch.status).toBe(200);
    const sg = await s.personEvents('sg');
    expect(sg.map((e) => [e.event, e.originalTimestamp === old, e.timestamp === old])).toEqual([
      ['live', true, false],
    ]);
  });
});
