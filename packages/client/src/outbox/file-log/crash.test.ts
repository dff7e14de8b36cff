import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OutboxDrop } from '../outbox.js';
import { type Child, printed, spawnOutboxChild } from './__fixtures__/children.js';
import { createFileOutbox } from './createFileOutbox.js';

/**
 * Crash test: child processes append (and some deliver) into one directory and are killed with
 * SIGKILL at random points, round after round. Afterwards one outbox drains the directory:
 * every record a child saw as durable (`persist()` resolved) was either acked by a child or is
 * drained now, nothing is drained twice, and nothing a child saw acked comes back.
 */
const ROUNDS = 8;

describe('FileOutbox survives SIGKILL', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-crash-'));
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it(
    `loses no durable record over ${ROUNDS} rounds of two children killed at random points`,
    { timeout: 90_000 },
    async () => {
      const all: Child[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const children = [spawnOutboxChild([dir, 'append']), spawnOutboxChild([dir, 'deliver'])];
        all.push(...children);
        await Promise.all(children.map((c) => c.waitFor('P ')));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
        for (const c of children) c.process.kill('SIGKILL');
        const exits = await Promise.all(children.map((c) => c.exited));
        for (const e of exits) expect(e.signal).toBe('SIGKILL');
      }
      const lines = all.flatMap((c) => c.lines);
      const queued = new Set(printed(lines, 'Q'));
      const durable = printed(lines, 'P');
      const acked = new Set(printed(lines, 'A'));
      const sent = new Set(printed(lines, 'S'));
      expect(durable.length).toBeGreaterThan(ROUNDS * 2);

      const outbox = createFileOutbox({ directory: dir });
      const drops: OutboxDrop[] = [];
      outbox.onDrop((d) => drops.push(d));
      const drained: string[] = [];
      for (;;) {
        const batch = await outbox.claim(100, Infinity);
        if (batch === null) break;
        drained.push(...batch.records.map((r) => r.uuid));
        for (const r of batch.records) expect(JSON.parse(r.json).uuid).toBe(r.uuid);
        await outbox.ack(batch);
      }
      const size = await outbox.size();
      await outbox.close();

      const drainedSet = new Set(drained);
      expect(drained.length, 'a record was drained twice').toBe(drainedSet.size);
      const lost = durable.filter((u) => !drainedSet.has(u) && !sent.has(u));
      expect(lost, 'durable records lost').toEqual([]);
      expect(
        drained.filter((u) => acked.has(u)),
        'acked records came back',
      ).toEqual([]);
      expect(
        drained.filter((u) => !queued.has(u)),
        'records nobody appended',
      ).toEqual([]);
      expect(size.events).toBe(0);
      // Killed writers leave torn tails at most; nothing else is dropped.
      expect(drops.filter((d) => d.reason !== 'corrupt')).toEqual([]);
      const leftovers = (await fs.readdir(dir)).filter((n) => /^\d{15}-.*\.(open|log)$/.test(n));
      expect(leftovers, 'drained segments are deleted').toEqual([]);
    },
  );
});
