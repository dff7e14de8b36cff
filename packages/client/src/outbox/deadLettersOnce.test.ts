import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutboxIoError } from './errors.js';
import { createIndexedDBOutbox } from './indexeddb.js';
import { DeadLetterStore } from './indexeddb/deadLetterStore.js';
import { deleteOutboxDatabase } from './indexeddb/deleteDatabase.test-helpers.js';
import { createLocalStorageOutbox, type StorageLike } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxRecord } from './outbox.js';

/**
 * A batch the endpoint refused for good moves to the dead letters once per event, whatever cut
 * the move short or did it twice: listed once, replayed once (the file outbox's case, a crash
 * before its cursor save, is in file-log/deadLetterCrash.test.ts).
 */
const uuids = (records: readonly OutboxRecord[] | undefined): string[] => (records ?? []).map((r) => r.uuid);

let next = 0;
const unique = (): string =>
  `dead-letters-once-${process.pid}-${next++}-${Math.random().toString(36).slice(2)}`;

describe('dead letters are kept once per event', () => {
  const opened: Outbox[] = [];
  const databases: string[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const o of opened.splice(0)) await o.close();
    for (const name of databases.splice(0)) await deleteOutboxDatabase(name);
  });

  /** Two tabs of one origin's outbox, each with its own clock (leases of 1 s). */
  const kinds: [string, () => (nowMs: number) => Outbox][] = [
    [
      'IndexedDB',
      () => {
        const name = unique();
        databases.push(name);
        return (nowMs) => createIndexedDBOutbox({ name, locks: null, leaseMs: 1000, now: () => nowMs });
      },
    ],
    [
      'localStorage',
      () => {
        const storage = new MemoryStorage();
        return (nowMs) => createLocalStorageOutbox({ storage, locks: null, leaseMs: 1000, now: () => nowMs });
      },
    ],
  ];

  it.each(kinds)(
    '%s: a tab frozen past its lease dead-letters the batch the tab that took over dead-lettered already',
    async (_kind, origin) => {
      const tab = origin();
      const now = Date.now();
      const frozen = tab(now);
      opened.push(frozen);
      const records = makeRecords(3);
      frozen.append(records);
      const stale = await frozen.claim(3, Infinity);
      // The frozen tab renews nothing; the other tab's clock is past the lease: it claims the same.
      const other = tab(now + 5000);
      opened.push(other);
      const taken = await other.claim(10, Infinity);
      expect(uuids(taken?.records)).toEqual(uuids(records));
      await other.deadLetter(taken!.records, 'HTTP 400');
      await other.ack(taken!);
      // Both got the same refusal: the frozen tab's move stores and counts none of them again.
      const counted: number[] = [];
      frozen.onDrop((d) => {
        if (d.reason === 'dead-lettered') counted.push(d.count);
      });
      expect(await frozen.deadLetter(stale!.records, 'HTTP 400')).toBe(0);
      expect(counted.reduce((a, b) => a + b, 0)).toBe(0);
      expect((await other.listDeadLetters()).map((d) => d.record.uuid)).toEqual(uuids(records));
      expect(await other.replayDeadLetters()).toBe(3);
      expect(uuids((await other.claim(10, Infinity))?.records)).toEqual(uuids(records));
    },
  );

  it('localStorage: a page that died between the dead-letter write and the chunk rewrite; the next holder dead-letters the same records once', async () => {
    const storage = new MemoryStorage();
    let dead = false;
    // The page's storage once it died: nothing it writes after that lands.
    const page: StorageLike = {
      get length() {
        return storage.length;
      },
      key: (i) => storage.key(i),
      getItem: (k) => storage.getItem(k),
      setItem: (k, v) => {
        if (!dead) storage.setItem(k, v);
        // The dead-letter key is the move's first write: the page dies right after it.
        if (k.endsWith('dl')) dead = true;
      },
      removeItem: (k) => {
        if (!dead) storage.removeItem(k);
      },
    };
    const now = Date.now();
    const first = createLocalStorageOutbox({ storage: page, locks: null, leaseMs: 1000, now: () => now });
    opened.push(first);
    const records = makeRecords(3);
    first.append(records);
    const batch = await first.claim(3, Infinity);
    await first.deadLetter(batch!.records, 'HTTP 400');
    expect(dead).toBe(true);

    // Reloaded: the records are still pending, and dead letters already.
    const next = createLocalStorageOutbox({ storage, locks: null, leaseMs: 1000, now: () => now + 5000 });
    opened.push(next);
    const again = await next.claim(10, Infinity);
    expect(uuids(again?.records)).toEqual(uuids(records));
    // Dead letters already (the page that died counted them): none is stored or counted again.
    expect(await next.deadLetter(again!.records, 'HTTP 400')).toBe(0);
    await next.ack(again!);
    expect(await next.claim(10, Infinity)).toBeNull();
    expect((await next.listDeadLetters()).map((d) => d.record.uuid)).toEqual(uuids(records));
    expect((await next.size()).deadLetters).toBe(3);
    expect(await next.replayDeadLetters()).toBe(3);
    expect(uuids((await next.claim(10, Infinity))?.records)).toEqual(uuids(records));
  });

  it('localStorage: a replay cut short by a page that died after the records were queued again, before the dead letters left the list, queues them once', async () => {
    const storage = new MemoryStorage();
    let dead = false;
    // The page dies right after the replay's chunk write: the dead-letter rewrite never lands.
    const page: StorageLike = {
      get length() {
        return storage.length;
      },
      key: (i) => storage.key(i),
      getItem: (k) => storage.getItem(k),
      setItem: (k, v) => {
        if (!dead) storage.setItem(k, v);
        if (armed && k.includes(':c:')) dead = true;
      },
      removeItem: (k) => {
        if (!dead) storage.removeItem(k);
      },
    };
    let armed = false;
    const now = Date.now();
    const first = createLocalStorageOutbox({ storage: page, locks: null, leaseMs: 1000, now: () => now });
    opened.push(first);
    const records = makeRecords(3);
    first.append(records);
    const batch = await first.claim(3, Infinity);
    expect(await first.deadLetter(batch!.records, 'HTTP 400')).toBe(3);
    await first.ack(batch!);
    armed = true;
    expect(await first.replayDeadLetters()).toBe(3);
    expect(dead).toBe(true);

    // Reloaded: the records are queued, and dead letters still; a replay queues none of them again.
    const next = createLocalStorageOutbox({ storage, locks: null, leaseMs: 1000, now: () => now + 5000 });
    opened.push(next);
    expect((await next.listDeadLetters()).map((d) => d.record.uuid)).toEqual(uuids(records));
    expect(await next.replayDeadLetters()).toBe(3);
    expect(await next.listDeadLetters()).toEqual([]);
    const all = await next.claim(100, Infinity);
    expect(uuids(all?.records)).toEqual(uuids(records));
    expect((await next.size()).events).toBe(3);
  });

  it('IndexedDB: the move is one transaction; cut short after the dead letters were added, it leaves the records pending and none kept', async () => {
    const name = unique();
    databases.push(name);
    const outbox = createIndexedDBOutbox({ name, locks: null });
    opened.push(outbox);
    const records = makeRecords(3);
    outbox.append(records);
    const batch = await outbox.claim(3, Infinity);
    // The tab dies with the transaction not committed: IndexedDB then discards all of it, as it
    // does a transaction that fails after the dead letters went in.
    const add = DeadLetterStore.prototype.add;
    vi.spyOn(DeadLetterStore.prototype, 'add').mockImplementationOnce(async function (
      this: DeadLetterStore,
      ...args
    ) {
      await add.apply(this, args);
      throw new Error('the tab is gone');
    });
    await expect(outbox.deadLetter(batch!.records, 'HTTP 400')).rejects.toBeInstanceOf(OutboxIoError);
    expect(await outbox.listDeadLetters()).toEqual([]);
    expect((await outbox.size()).events).toBe(3);
    // Done again: each once.
    const again = await outbox.claim(10, Infinity);
    expect(uuids(again?.records)).toEqual(uuids(records));
    expect(await outbox.deadLetter(again!.records, 'HTTP 400')).toBe(3);
    await outbox.ack(again!);
    expect((await outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual(uuids(records));
    expect((await outbox.size()).events).toBe(0);
  });
});
