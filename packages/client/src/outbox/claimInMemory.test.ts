import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDBOutbox } from './indexeddb.js';
import { deleteOutboxDatabase } from './indexeddb/deleteDatabase.test-helpers.js';
import { createLocalStorageOutbox } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { createMemoryOutbox } from './memory.js';
import { drain, makeRecord, makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxBatch, OutboxRecord } from './outbox.js';

/**
 * `claimInMemory`, the synchronous claim of the unload send, on every browser outbox: it answers
 * in the same turn (a page going away runs nothing after an await), never hands out what a
 * `claim` holds, and its batches are acked, released and dead-lettered like any other.
 */
type Claimable = Outbox & { claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let next = 0;
const kinds: Array<[string, () => Claimable]> = [
  ['memory', () => createMemoryOutbox() as Claimable],
  [
    'IndexedDB',
    () => {
      const name = `in-memory-${process.pid}-${next++}`;
      const outbox = createIndexedDBOutbox({ name, locks: null });
      cleanups.push(async () => {
        await outbox.close();
        await deleteOutboxDatabase(name);
      });
      return outbox;
    },
  ],
  [
    'localStorage',
    () => {
      const outbox = createLocalStorageOutbox({ storage: new MemoryStorage(), locks: null });
      cleanups.push(() => outbox.close());
      return outbox;
    },
  ],
];

const uuids = (records: readonly OutboxRecord[]): string[] => records.map((r) => r.uuid);

describe.each(kinds)('claimInMemory on the %s outbox', (_kind, create) => {
  it('answers in the same turn with records appended a moment before, and an ack removes them', async () => {
    const outbox = create();
    const records = makeRecords(6);
    outbox.append(records);
    const batch = outbox.claimInMemory(100, Infinity);
    expect(batch).not.toBeInstanceOf(Promise);
    expect(uuids(batch!.records)).toEqual(uuids(records));
    expect(batch!.bytes).toBe(records.reduce((n, r) => n + r.json.length, 0));
    await outbox.ack(batch!);
    await outbox.persist();
    expect((await outbox.size()).events).toBe(0);
    expect(await outbox.claim(100, Infinity)).toBeNull();
  });

  it('never hands out what a claim holds, nor a record twice; a release makes them claimable again', async () => {
    const outbox = create();
    const records = makeRecords(8);
    outbox.append(records);
    await outbox.persist();
    const held = await outbox.claim(3, Infinity);
    const first = outbox.claimInMemory(100, Infinity);
    expect(uuids(first!.records)).toEqual(uuids(records.slice(3)));
    expect(outbox.claimInMemory(100, Infinity)).toBeNull();
    expect(await outbox.claim(100, Infinity)).toBeNull();
    await outbox.release(first!);
    await outbox.release(held!);
    expect(await drain(outbox)).toEqual(uuids(records));
  });

  it('takes only what fits in maxBytes: passes over a record larger than that, stops at the first that no longer fits', async () => {
    const outbox = create();
    const big = makeRecord(2_000);
    const small = makeRecords(4, 300);
    outbox.append([big, ...small]);
    const room = 300 * 2 + 10;
    const batch = outbox.claimInMemory(100, room);
    expect(uuids(batch!.records)).toEqual(uuids(small.slice(0, 2)));
    expect(outbox.claimInMemory(1, room)!.records[0]!.uuid).toBe(small[2]!.uuid);
    // The big one waits for `claim`, first in line.
    const rest = await outbox.claim(100, Infinity);
    expect(uuids(rest!.records)).toEqual([big.uuid, small[3]!.uuid]);
  });

  it('hands out nothing cleared (consent withdrawn), and drops a batch claimed before the clear when it is released', async () => {
    const outbox = create();
    outbox.append(makeRecords(3));
    const before = outbox.claimInMemory(1, Infinity);
    outbox.append(makeRecords(2));
    expect(await outbox.clear()).toBe(4);
    expect(outbox.claimInMemory(100, Infinity)).toBeNull();
    await outbox.release(before!);
    expect(await outbox.claim(100, Infinity)).toBeNull();
    expect((await outbox.size()).events).toBe(0);
  });

  it('dead-letters records of its batch like any other', async () => {
    const outbox = create();
    const records = makeRecords(4);
    outbox.append(records);
    const batch = outbox.claimInMemory(100, Infinity)!;
    await outbox.deadLetter([batch.records[1]!], 'HTTP 400: refused');
    await outbox.ack(batch);
    await outbox.persist();
    const letters = await outbox.listDeadLetters();
    expect(letters.map((l) => [l.record.uuid, l.reason])).toEqual([[records[1]!.uuid, 'HTTP 400: refused']]);
    expect((await outbox.size()).events).toBe(0);
  });

  it('lists the records of the claims in flight without changing them; an unload batch is not among them', async () => {
    const outbox = create();
    const records = makeRecords(6);
    outbox.append(records);
    await outbox.persist();
    const a = await outbox.claim(2, Infinity);
    const b = await outbox.claim(2, Infinity);
    const unload = outbox.claimInMemory(100, Infinity);
    expect(uuids(unload!.records)).toEqual(uuids(records.slice(4)));
    expect(uuids(outbox.inFlight!())).toEqual(uuids(records.slice(0, 4)));
    await outbox.ack(a!);
    await outbox.release(b!);
    expect(uuids(outbox.inFlight!())).toEqual([]);
    expect(uuids((await outbox.claim(100, Infinity))!.records)).toEqual(uuids(records.slice(2, 4)));
  });

  it('answers null after close', async () => {
    const outbox = create();
    outbox.append(makeRecords(2));
    await outbox.close();
    expect(outbox.claimInMemory(100, Infinity)).toBeNull();
  });
});

describe('claimInMemory on the IndexedDB outbox', () => {
  it('takes the records not written yet first: those are the ones a page going away would lose', async () => {
    const outbox = kinds[1]![1]();
    const written = makeRecords(10);
    outbox.append(written);
    await outbox.persist();
    const late = makeRecords(3);
    outbox.append(late);
    const batch = outbox.claimInMemory(5, Infinity);
    expect(uuids(batch!.records)).toEqual([...uuids(late), ...uuids(written.slice(0, 2))]);
  });

  it('keeps its records from `claim` once they are written, and an ack removes them from the database', async () => {
    const outbox = kinds[1]![1]();
    const records = makeRecords(5);
    outbox.append(records);
    const batch = outbox.claimInMemory(100, Infinity)!;
    // Written while claimed: `claim` must not hand them out a second time.
    const later = makeRecord();
    outbox.append([later]);
    await outbox.persist();
    expect(uuids((await outbox.claim(100, Infinity))!.records)).toEqual([later.uuid]);
    await outbox.ack(batch);
    expect((await outbox.size()).events).toBe(1);
  });
});

describe('claimInMemory on the localStorage outbox', () => {
  it('writes what waits in the buffer in the same turn: another page on the storage finds it', async () => {
    const storage = new MemoryStorage();
    const outbox = createLocalStorageOutbox({ storage, locks: null, persistIntervalMs: 60_000 });
    cleanups.push(() => outbox.close());
    const records = makeRecords(4);
    outbox.append(records);
    outbox.claimInMemory(2, Infinity);
    // The page is gone without an ack: the next one (here a second outbox) sends them all.
    const next = createLocalStorageOutbox({ storage, locks: null });
    cleanups.push(() => next.close());
    expect(await drain(next)).toEqual(uuids(records));
  });
});
