import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { Sink, sinkEvents } from './telemetry.test-helpers.js';

const DAY = 86_400_000;

/**
 * `now` stamps the events; the outbox the client makes judges their age (retention) by the
 * same clock. It judged by the real one: a clock 8 days behind dropped every event as expired.
 */
describe('the client clock (`now`) and the outbox it makes', () => {
  let sink: Sink;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-clock-'));
  beforeAll(async () => {
    sink = await Sink.start();
  });
  afterAll(async () => {
    await sink.down();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(['file', 'memory'] as const)(
    'a clock days behind the real one keeps its events (%s outbox); retention still counts by it',
    async (storage) => {
      const start = Date.now() - 8 * DAY;
      let now = start;
      const t = createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        storage,
        directory: path.join(dir, storage),
        respectDoNotTrack: false,
        delivery: { flushOnExit: false },
        now: () => now,
      });
      try {
        t.track(`kept-${storage}`);
        await t.persist?.();
        await t.flush({ timeoutMs: 10_000 });
        expect((await t.stats()).dropped.retention).toBe(0);
        const sent = sinkEvents(sink).filter((e) => e.event === `kept-${storage}`);
        expect(sent.map((e) => e.timestamp)).toEqual([new Date(start).toISOString()]);

        // Retention (7 days) by the same clock: an event that waits past it is dropped, counted.
        t.setConsent('pending');
        t.track(`expired-${storage}`);
        await t.persist?.();
        now += 8 * DAY;
        // Time that really passed, as the monotonic clock says too: a wall clock alone stepping
        // ahead is not taken for it (see outbox/retentionClock.ts).
        const realMonotonic = performance.now.bind(performance);
        vi.spyOn(performance, 'now').mockImplementation(() => realMonotonic() + 8 * DAY);
        t.setConsent('granted');
        await t.flush({ timeoutMs: 10_000 });
        expect(sinkEvents(sink).filter((e) => e.event === `expired-${storage}`)).toEqual([]);
        expect((await t.stats()).dropped.retention).toBe(1);
      } finally {
        vi.restoreAllMocks();
        await t.shutdown({ timeoutMs: 1000 });
      }
    },
  );
});
