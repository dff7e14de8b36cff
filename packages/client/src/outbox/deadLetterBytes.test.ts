import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDBOutbox } from './indexeddb.js';
import { deleteOutboxDatabase } from './indexeddb/deleteDatabase.test-helpers.js';
import { DEFAULT_OUTBOX_LIMITS, resolveOutboxLimits } from './limits.js';
import { createLocalStorageOutbox } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { createMemoryOutbox } from './memory.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxDrop } from './outbox.js';

/** Dead-letters `records` in batches of `per`, answering the drops seen. */
async function deadLetterAll(outbox: Outbox, records: ReturnType<typeof makeRecords>, per: number) {
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  for (let i = 0; i < records.length; i += per) {
    outbox.append(records.slice(i, i + per));
    const batch = await outbox.claim(per, Infinity);
    await outbox.deadLetter(batch!.records, 'HTTP 400');
    await outbox.ack(batch!);
  }
  return drops;
}

const overflow = (drops: readonly OutboxDrop[]) => {
  const o = drops.filter((d) => d.reason === 'overflow');
  return { count: o.reduce((n, d) => n + d.count, 0), bytes: o.reduce((n, d) => n + (d.bytes ?? 0), 0) };
};

describe('maxDeadLetterBytes', () => {
  const databases: string[] = [];
  afterEach(async () => {
    for (const name of databases.splice(0)) await deleteOutboxDatabase(name);
  });
  let next = 0;
  const database = (): string => {
    const name = `dead-letter-bytes-${process.pid}-${next++}-${Math.random().toString(36).slice(2)}`;
    databases.push(name);
    return name;
  };

  it('defaults to 16 MiB, and is validated like maxDeadLetters (0 allowed)', () => {
    expect(DEFAULT_OUTBOX_LIMITS.maxDeadLetterBytes).toBe(16 * 1024 * 1024);
    expect(resolveOutboxLimits(undefined).maxDeadLetterBytes).toBe(16 * 1024 * 1024);
    expect(resolveOutboxLimits({ maxDeadLetterBytes: 0 }).maxDeadLetterBytes).toBe(0);
    for (const bad of [-1, 0.5, '5', Number.POSITIVE_INFINITY]) {
      expect(() => resolveOutboxLimits({ maxDeadLetterBytes: bad as number }, 'limits.')).toThrow(
        expect.objectContaining({ option: 'limits.maxDeadLetterBytes' }),
      );
    }
  });

  // Event JSON of 1000 bytes and a reason of 8: 1008 bytes a dead letter.
  for (const [name, create] of [
    ['memory', (cap: number) => createMemoryOutbox({ maxDeadLetterBytes: cap })],
    [
      'localStorage',
      (cap: number) =>
        createLocalStorageOutbox({ storage: new MemoryStorage(), locks: null, maxDeadLetterBytes: cap }),
    ],
    [
      'IndexedDB',
      (cap: number) => createIndexedDBOutbox({ name: database(), locks: null, maxDeadLetterBytes: cap }),
    ],
  ] as const) {
    it(`the ${name} outbox keeps the newest dead letters within it, the oldest counted overflow with their bytes`, async () => {
      const outbox = create(5 * 1008);
      const records = makeRecords(12, 1000);
      const drops = await deadLetterAll(outbox, records, 3);
      const kept = (await outbox.listDeadLetters()).map((d) => d.record.uuid);
      expect(kept).toEqual(records.slice(7).map((r) => r.uuid));
      expect((await outbox.size()).deadLetters).toBe(5);
      expect(overflow(drops)).toEqual({ count: 7, bytes: 7 * 1000 });
      // A replay frees the room it took.
      expect(await outbox.replayDeadLetters()).toBe(5);
      await deadLetterAll(outbox, makeRecords(5, 1000), 5);
      expect((await outbox.size()).deadLetters).toBe(5);
      await outbox.close();
    });

    it(`the ${name} outbox does not keep a dead letter larger than it by itself`, async () => {
      const outbox = create(500);
      const drops = await deadLetterAll(outbox, makeRecords(1, 1000), 1);
      expect(await outbox.listDeadLetters()).toEqual([]);
      expect(overflow(drops)).toEqual({ count: 1, bytes: 1000 });
      await outbox.close();
    });
  }
});
