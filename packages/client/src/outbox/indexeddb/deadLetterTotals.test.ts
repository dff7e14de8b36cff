import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDBOutbox } from '../indexeddb.js';
import type { IndexedDBOutbox } from '../indexeddb.js';
import { makeRecords } from '../outbox.contract.js';
import type { DeadLetter, OutboxDrop, OutboxRecord } from '../outbox.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';
import type { StoredDeadLetter } from './schema.js';
import { DEAD_LETTER_TOTALS_KEY, openOutboxDatabase } from './schema.js';

/**
 * `maxDeadLetterBytes` on the IndexedDB outbox where its total lives in the database: shared by
 * tabs, kept across reopening, counted again from a store changed without it. (The cap itself,
 * as for every outbox, is in `../deadLetterBytes.test.ts`.)
 */
let next = 0;
const unique = (): string =>
  `dead-letter-totals-${process.pid}-${next++}-${Math.random().toString(36).slice(2)}`;

// Event JSON of 1000 bytes and a reason of 8: 1008 bytes a dead letter, five within the cap.
const REASON = 'HTTP 400';
const CAP = 5 * 1008;

const uuids = (items: readonly (OutboxRecord | DeadLetter)[]): string[] =>
  items.map((i) => ('record' in i ? i.record.uuid : i.uuid));

const overflow = (drops: readonly OutboxDrop[]) => {
  const o = drops.filter((d) => d.reason === 'overflow');
  return { count: o.reduce((n, d) => n + d.count, 0), bytes: o.reduce((n, d) => n + (d.bytes ?? 0), 0) };
};

/** Dead-letters `records` through a claim, then lets the delivery lock go for another tab. */
async function deadLetter(outbox: IndexedDBOutbox, records: readonly OutboxRecord[]): Promise<void> {
  outbox.append(records);
  const batch = await outbox.claim(records.length, Infinity);
  expect(uuids(batch?.records ?? [])).toEqual(uuids(records));
  await outbox.deadLetter(batch!.records, REASON);
  await outbox.ack(batch!);
  expect(await outbox.claim(1, Infinity)).toBeNull();
}

const stored = (record: OutboxRecord, json = record.json): StoredDeadLetter => ({
  u: record.uuid,
  j: json,
  t: record.timestampMs,
  reason: REASON,
  at: Date.now(),
});

describe('IndexedDBOutbox: the dead letters’ bytes kept in the database', () => {
  const opened: { outbox: IndexedDBOutbox; name: string }[] = [];
  afterEach(async () => {
    for (const { outbox } of opened) await outbox.close();
    for (const { name } of opened.splice(0)) await deleteOutboxDatabase(name);
  });
  function make(name: string): { outbox: IndexedDBOutbox; drops: OutboxDrop[] } {
    const outbox = createIndexedDBOutbox({ name, locks: null, maxDeadLetterBytes: CAP });
    opened.push({ outbox, name });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((d) => drops.push(d));
    return { outbox, drops };
  }
  /** What an older version of the outbox (or another tab running one) does to the store. */
  async function direct(name: string, change: (store: IDBObjectStore) => void): Promise<void> {
    const db = await openOutboxDatabase(indexedDB, name, () => undefined);
    const tx = db.transaction('deadLetters', 'readwrite');
    change(tx.objectStore('deadLetters') as unknown as IDBObjectStore);
    await tx.done;
    db.close();
  }
  async function savedTotal(name: string): Promise<unknown> {
    const db = await openOutboxDatabase(indexedDB, name, () => undefined);
    const value = await db.get('meta', DEAD_LETTER_TOTALS_KEY);
    db.close();
    return value;
  }

  it('holds for two outboxes on one database (two tabs): the one that goes over discards the other’s oldest', async () => {
    const name = unique();
    const a = make(name);
    const b = make(name);
    const first = makeRecords(4, 1000);
    const second = makeRecords(4, 1000);
    await deadLetter(a.outbox, first);
    await deadLetter(b.outbox, second);
    expect(overflow(a.drops)).toEqual({ count: 0, bytes: 0 });
    expect(overflow(b.drops)).toEqual({ count: 3, bytes: 3000 });
    const kept = [first[3]!, ...second];
    expect(uuids(await a.outbox.listDeadLetters())).toEqual(uuids(kept));
    const third = makeRecords(2, 1000);
    await deadLetter(a.outbox, third);
    expect(overflow(a.drops)).toEqual({ count: 2, bytes: 2000 });
    expect(uuids(await b.outbox.listDeadLetters())).toEqual(uuids([...second.slice(1), ...third]));
  });

  it('holds after reopening: the total is saved with the dead letters', async () => {
    const name = unique();
    const before = make(name);
    const first = makeRecords(4, 1000);
    await deadLetter(before.outbox, first);
    await before.outbox.close();
    expect(await savedTotal(name)).toMatchObject({ count: 4, bytes: 4 * 1008 });
    const after = make(name);
    const second = makeRecords(4, 1000);
    await deadLetter(after.outbox, second);
    expect(overflow(after.drops)).toEqual({ count: 3, bytes: 3000 });
    expect(uuids(await after.outbox.listDeadLetters())).toEqual(uuids([first[3]!, ...second]));
    expect(await savedTotal(name)).toMatchObject({ count: 5, bytes: CAP });
  });

  it('counts the total from the store of a database written without it (an older version)', async () => {
    const name = unique();
    const old = makeRecords(4, 1000);
    await direct(name, (store) => {
      for (const r of old) store.add(stored(r));
    });
    expect(await savedTotal(name)).toBeUndefined();
    const { outbox, drops } = make(name);
    const added = makeRecords(2, 1000);
    await deadLetter(outbox, added);
    expect(overflow(drops)).toEqual({ count: 1, bytes: 1000 });
    expect(uuids(await outbox.listDeadLetters())).toEqual(uuids([...old.slice(1), ...added]));
    expect(await savedTotal(name)).toMatchObject({ count: 5, bytes: CAP });
  });

  it('counts the total again when the store changed without it since (an older version in another tab)', async () => {
    const name = unique();
    const { outbox, drops } = make(name);
    const mine = makeRecords(3, 1000);
    await deadLetter(outbox, mine);
    // Two larger ones in, the two oldest out: the count is what the saved total says, the bytes
    // are not (1008 + 2 × 2008).
    const theirs = makeRecords(2, 2000);
    await direct(name, (store) => {
      for (const r of theirs) store.add(stored(r));
      store.delete(IDBKeyRange.upperBound(2));
    });
    expect(uuids(await outbox.listDeadLetters())).toEqual(uuids([mine[2]!, ...theirs]));
    const added = makeRecords(1, 1000);
    await deadLetter(outbox, added);
    expect(overflow(drops)).toEqual({ count: 1, bytes: 1000 });
    expect(uuids(await outbox.listDeadLetters())).toEqual(uuids([...theirs, ...added]));
  });

  it('counts what a damaged dead letter still holds, and frees it when it is discarded or purged', async () => {
    const name = unique();
    const [damaged] = makeRecords(1, 2000);
    await direct(name, (store) => {
      store.add({ ...stored(damaged!), u: 42 });
    });
    const { outbox, drops } = make(name);
    const good = makeRecords(3, 1000);
    await deadLetter(outbox, good);
    expect(overflow(drops)).toEqual({ count: 0, bytes: 0 });
    // 2008 + 3 × 1008 = 5032: one more goes over, and the damaged one, the oldest, goes.
    const more = makeRecords(1, 1000);
    await deadLetter(outbox, more);
    expect(overflow(drops)).toEqual({ count: 1, bytes: 2000 });
    expect(uuids(await outbox.listDeadLetters())).toEqual(uuids([...good, ...more]));

    await direct(name, (store) => {
      store.add({ ...stored(damaged!), u: 42 });
    });
    expect(await outbox.purgeDeadLetters()).toBe(4);
    await deadLetter(outbox, makeRecords(5, 1000));
    expect(overflow(drops)).toEqual({ count: 1, bytes: 2000 });
    await deadLetter(outbox, makeRecords(1, 1000));
    expect(overflow(drops)).toEqual({ count: 2, bytes: 3000 });
  });

  it('frees the bytes of the dead letters a replay or a purge of some of them takes', async () => {
    const name = unique();
    const { outbox, drops } = make(name);
    const full = makeRecords(5, 1000);
    await deadLetter(outbox, full);
    expect(await outbox.replayDeadLetters(uuids(full.slice(0, 2)))).toBe(2);
    const replayed = await outbox.claim(10, Infinity);
    expect(uuids(replayed?.records ?? [])).toEqual(uuids(full.slice(0, 2)));
    await outbox.ack(replayed!);
    expect(await outbox.claim(1, Infinity)).toBeNull();
    // Each time filled again before the next: a purge counts the total from what it reads.
    await deadLetter(outbox, makeRecords(2, 1000));
    expect(overflow(drops)).toEqual({ count: 0, bytes: 0 });
    expect(await outbox.purgeDeadLetters([full[2]!.uuid])).toBe(1);
    await deadLetter(outbox, makeRecords(1, 1000));
    expect(overflow(drops)).toEqual({ count: 0, bytes: 0 });
    await deadLetter(outbox, makeRecords(1, 1000));
    expect(overflow(drops)).toEqual({ count: 1, bytes: 1000 });
    expect((await outbox.size()).deadLetters).toBe(5);
  });

  it('keeps the newest of the dead letters it adopts within the cap, the oldest counted overflow with their bytes', async () => {
    const name = unique();
    const { outbox, drops } = make(name);
    const letters: DeadLetter[] = makeRecords(7, 1000).map((record, i) => ({
      record,
      reason: REASON,
      deadLetteredAtMs: 1000 + i,
    }));
    expect(await outbox.adoptDeadLetters(letters)).toBe(7);
    expect(overflow(drops)).toEqual({ count: 2, bytes: 2000 });
    expect(uuids(await outbox.listDeadLetters())).toEqual(uuids(letters.slice(2)));
  });

  it('purges over the origin’s quota (every put refused), and counts the total again after', async () => {
    const name = unique();
    const { outbox, drops } = make(name);
    const full = makeRecords(5, 1000);
    await deadLetter(outbox, full);
    const proto = IDBObjectStore.prototype;
    const put = proto.put;
    proto.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>) {
      if (this.transaction.objectStoreNames.contains('deadLetters'))
        throw new DOMException('over quota', 'QuotaExceededError');
      return put.apply(this, args);
    };
    try {
      expect(await outbox.purgeDeadLetters([full[0]!.uuid])).toBe(1);
    } finally {
      proto.put = put;
    }
    expect(await savedTotal(name)).toBeUndefined();
    await deadLetter(outbox, makeRecords(1, 1000));
    expect(overflow(drops)).toEqual({ count: 0, bytes: 0 });
    await deadLetter(outbox, makeRecords(1, 1000));
    expect(overflow(drops)).toEqual({ count: 1, bytes: 1000 });
  });
});
