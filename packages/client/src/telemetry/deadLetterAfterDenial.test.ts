import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { Sink, testPlatform, until } from './telemetry.test-helpers.js';

describe('a batch refused for good after consent was withdrawn while it was in flight', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it.each(['file', 'memory'] as const)(
    'is counted as dropped for consent only, not reported as dead letters (%s outbox)',
    async (storage) => {
      const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-after-denial-'));
      cleanups.push(async () => rmSync(directory, { recursive: true, force: true }));
      let answer!: () => void;
      const answered = new Promise<void>((resolve) => (answer = resolve));
      let arrived!: () => void;
      const inFlight = new Promise<void>((resolve) => (arrived = resolve));
      const sink = await Sink.start(async () => {
        arrived();
        await answered;
        return { status: 400, body: '{"error":"invalid"}' };
      });
      cleanups.push(() => sink.down());
      const t = createTelemetry({
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        storage,
        directory,
        platform: testPlatform(),
        respectDoNotTrack: false,
        rememberConsent: false,
        delivery: { intervalMs: 20 },
      });
      cleanups.push(() => t.shutdown({ timeoutMs: 1_000 }));
      const deadLetterEvents: number[] = [];
      t.on('dead-letter', (e) => deadLetterEvents.push(e.count));
      for (let i = 0; i < 10; i++) t.track('ev');
      await inFlight;
      t.setConsent('denied');
      answer();
      // The refusal is settled once nothing is queued or in flight any more.
      await until(async () => (await t.stats()).queue?.events === 0, 5_000, 'the batch settled');
      const stats = await t.stats();
      expect(stats.dropped.consent).toBe(10);
      expect(stats.dropped['dead-lettered']).toBe(0);
      expect(stats.queue?.deadLetters).toBe(0);
      expect(deadLetterEvents).toEqual([]);
    },
  );
});
