import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDBOutbox } from '../indexeddb.js';
import type { IndexedDBOutbox } from '../indexeddb.js';
import { makeRecords } from '../outbox.contract.js';
import type { OutboxBatch } from '../outbox.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';
import { databaseName, DB_VERSION } from './schema.js';

let next = 0;
const unique = (): string => `overlap-${process.pid}-${next++}`;
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('IndexedDBOutbox: an unload claim while claim() reads the store', () => {
  const opened: { outbox: IndexedDBOutbox; name: string }[] = [];
  afterEach(async () => {
    for (const { outbox, name } of opened.splice(0)) {
      await outbox.close();
      await deleteOutboxDatabase(name);
    }
  });

  it('never takes a record the read has taken: each record is held by one batch', async () => {
    const name = unique();
    const outbox = createIndexedDBOutbox({ name, locks: null, persistIntervalMs: 60_000 });
    opened.push({ outbox, name });
    const records = makeRecords(40);
    outbox.append(records);
    // Written: the page still keeps them in memory for an unload claim, with their keys.
    await outbox.persist();

    // A hidden tab's unload claims, one record each, at every turn while claim() walks the store.
    const unload: OutboxBatch[] = [];
    let done = false;
    const regular = outbox.claim(40, Infinity).finally(() => {
      done = true;
    });
    while (!done) {
      const batch = outbox.claimInMemory(1, Infinity);
      if (batch !== null) unload.push(batch);
      await turn();
    }
    const batch = await regular;

    const held = [...unload.flatMap((b) => b.records), ...(batch?.records ?? [])].map((r) => r.uuid);
    expect(unload.length).toBeGreaterThan(0);
    expect(new Set(held).size).toBe(held.length);
    expect(new Set(held)).toEqual(new Set(records.map((r) => r.uuid)));
  });

  it('gives the records back when the read fails: an unload claim can take them then', async () => {
    const name = unique();
    const outbox = createIndexedDBOutbox({ name, locks: null, persistIntervalMs: 60_000 });
    opened.push({ outbox, name });
    const records = makeRecords(3);
    outbox.append(records);
    await outbox.persist();
    // A damaged value after them makes the claim read the totals, which fails: the transaction
    // aborts after the walk has taken the three records.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(databaseName(name), DB_VERSION);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('records', 'readwrite');
      tx.objectStore('records').put({ u: 'damaged', j: '{}', t: Date.now(), b: 999 });
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    const proto = IDBObjectStore.prototype;
    const get = proto.get;
    proto.get = function (this: IDBObjectStore, key: IDBValidKey | IDBKeyRange) {
      // The claim's transaction (records and meta), not the delivery lease's (meta alone).
      if (this.name === 'meta' && this.transaction.objectStoreNames.contains('records'))
        throw new DOMException('disk gone', 'UnknownError');
      return get.call(this, key);
    };
    try {
      await expect(outbox.claim(10, Infinity)).rejects.toThrow();
    } finally {
      proto.get = get;
    }
    const batch = outbox.claimInMemory(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
  });
});
