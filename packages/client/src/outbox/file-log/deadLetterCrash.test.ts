import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { printed, spawnFixture } from './__fixtures__/children.js';
import { createFileOutbox } from './createFileOutbox.js';

/**
 * QA: a process killed after it stored dead letters and before its queue's cursor recorded them
 * gone claimed the same events again in its next run and dead-lettered them a second time:
 * `homing dead-letters` listed them twice, and `--replay` sent them twice.
 */
describe('dead letters and a crash before the cursor is saved', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-letter-crash-'));
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it(
    'the next run dead-letters the same events again without listing them twice',
    { timeout: 60_000 },
    async () => {
      const child = spawnFixture('./dead-letter-child.ts', [dir, '5']);
      await child.waitFor('D ');
      child.process.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      const deadLettered = printed(child.lines, 'D');
      expect(deadLettered).toHaveLength(5);

      const outbox = createFileOutbox({ directory: dir });
      try {
        // The crash hit between the two writes: the cursor never recorded them gone.
        const again = await outbox.claim(100, Infinity);
        expect(again?.records.map((r) => r.uuid)).toEqual(deadLettered);
        await outbox.deadLetter(again!.records, 'refused');
        await outbox.ack(again!);
        expect(await outbox.claim(100, Infinity)).toBeNull();
        const listed = (await outbox.listDeadLetters()).map((d) => d.record.uuid);
        expect(listed).toEqual(deadLettered);
        expect((await outbox.size()).deadLetters).toBe(5);
        // A replay puts each back once.
        expect(await outbox.replayDeadLetters()).toBe(5);
        const replayed = await outbox.claim(100, Infinity);
        expect(replayed?.records.map((r) => r.uuid)).toEqual(deadLettered);
      } finally {
        await outbox.close();
      }
    },
  );
});
