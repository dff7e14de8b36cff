import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printed, spawnTelemetryChild } from './__fixtures__/spawnTelemetryChild.js';
import { Sink } from './telemetry.test-helpers.js';

/**
 * Crash test at the client level: a child tracks events with 'fsync' durability and prints
 * each uuid once `persist()` resolved, while delivering to a loopback sink; it is SIGKILLed at
 * a random point, round after round, on one outbox directory. Then one more run on that
 * directory flushes. Every printed uuid must have reached the sink (at least once: the sink
 * dedups by uuid, as the Homing server does).
 */
const ROUNDS = 10;

describe('the client survives SIGKILL', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-client-crash-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    `delivers every durable event after ${ROUNDS} kills at random points`,
    { timeout: 300_000 },
    async () => {
      const sink = await Sink.start(() =>
        // Now and then the sink fails, so kills also land between a failure and its retry.
        Math.random() < 0.1 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 202 },
      );
      try {
        const durable: string[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          const child = spawnTelemetryChild(['crash', dir, sink.url]);
          await child.waitFor('P ', 1 + Math.floor(Math.random() * 30));
          child.process.kill('SIGKILL');
          const exit = await child.exited;
          expect(exit.signal, child.stderr()).toBe('SIGKILL');
          durable.push(...printed(child.lines, 'P'));
        }
        expect(durable.length).toBeGreaterThan(ROUNDS * 5);
        sink.handler = () => ({ status: 202 });
        const last = spawnTelemetryChild(['exit', dir, sink.url, '1']);
        expect(await last.exited, last.stderr()).toEqual({ code: 0, signal: null });

        const received = new Set(sink.acceptedUuids);
        const lost = durable.filter((u) => !received.has(u));
        expect(lost, `${lost.length} of ${durable.length} durable events never arrived`).toEqual([]);
        for (const u of printed(last.lines, 'T')) expect(received.has(u)).toBe(true);
      } finally {
        await sink.down();
      }
    },
  );
});
