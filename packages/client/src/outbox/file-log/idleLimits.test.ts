import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutboxDrop } from '../outbox.js';
import { drain, makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import { DELIVERY_LOCK_FILE } from './segmentFiles.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in 10 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('file outbox limits without the delivery lock', () => {
  for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
    it(`stay applied after an idle holder lets the lock go (${overflow})`, async () => {
      const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-idle-limits-'));
      dirs.push(directory);
      // Nothing claims (consent pending, no delivery loop): the holder lets the lock go after 5 heartbeats.
      const outbox = createFileOutbox({ directory, maxEvents: 100, overflow, heartbeatMs: 20, staleMs: 60 });
      const drops: OutboxDrop[] = [];
      outbox.onDrop((d) => drops.push(d));
      const overflowed = () => drops.filter((d) => d.reason === 'overflow').reduce((n, d) => n + d.count, 0);
      outbox.append(makeRecords(250));
      await outbox.persist();
      expect((await outbox.size()).events).toBe(100);
      expect(overflowed()).toBe(150);
      const lock = path.join(directory, DELIVERY_LOCK_FILE);
      await until(() => !existsSync(lock));

      for (let k = 0; k < 10; k++) {
        outbox.append(makeRecords(100));
        await outbox.persist();
      }
      expect((await outbox.size()).events).toBe(100);
      expect(overflowed()).toBe(1150);
      // Held only to apply the limits: free again for a process that delivers.
      expect(existsSync(lock)).toBe(false);
      await outbox.close();
    });
  }

  /**
   * An outbox full to `maxEvents` lets the lock go while idle; another process then delivers
   * everything and leaves `dead` as dead letters. The idle one last saw the queue full.
   */
  async function emptiedByAnother(dead: number) {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-idle-limits-'));
    dirs.push(directory);
    const options = {
      directory,
      maxEvents: 100,
      overflow: 'drop-newest',
      heartbeatMs: 20,
      staleMs: 60,
    } as const;
    const idle = createFileOutbox(options);
    const drops: OutboxDrop[] = [];
    idle.onDrop((d) => drops.push(d));
    idle.append(makeRecords(100));
    await idle.persist();
    await until(() => !existsSync(path.join(directory, DELIVERY_LOCK_FILE)));
    const delivering = createFileOutbox(options);
    expect(await drain(delivering)).toHaveLength(100);
    if (dead > 0) {
      delivering.append(makeRecords(dead));
      await delivering.persist();
      const batch = await delivering.claim(dead, Infinity);
      await delivering.deadLetter(batch!.records, 'test');
    }
    await delivering.close();
    const overflowed = () => drops.filter((d) => d.reason === 'overflow').reduce((n, d) => n + d.count, 0);
    return { idle, overflowed };
  }

  it('drop-newest takes records again once another process emptied the queue', async () => {
    const { idle, overflowed } = await emptiedByAnother(0);
    idle.append(makeRecords(50));
    await idle.persist();
    expect((await idle.size()).events).toBe(50);
    expect(overflowed()).toBe(0);
    idle.append(makeRecords(60));
    await idle.persist();
    expect((await idle.size()).events).toBe(100);
    expect(overflowed()).toBe(10);
    await idle.close();
  });

  it('drop-newest replays dead letters into a queue another process emptied', async () => {
    const { idle, overflowed } = await emptiedByAnother(5);
    expect(await idle.replayDeadLetters()).toBe(5);
    expect(await idle.size()).toMatchObject({ events: 5, deadLetters: 0 });
    expect(overflowed()).toBe(0);
    await idle.close();
  });
});
