import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxError } from './errors.js';
import { createIndexedDBOutbox, IndexedDBOutbox } from './indexeddb.js';
import type { IndexedDBOutboxOptions } from './indexeddb.js';
import { deleteOutboxDatabase } from './indexeddb/deleteDatabase.test-helpers.js';
import { FakeLocks } from './indexeddb/fakeLocks.test-helpers.js';
import { databaseName } from './indexeddb/schema.js';
import { describeOutboxContract, makeRecords } from './outbox.contract.js';
import type { OutboxDrop } from './outbox.js';

/**
 * The IndexedDB outbox in Node on fake-indexeddb (an in-memory IndexedDB that follows the
 * spec's transaction rules). Node 20 has no Web Locks, so these runs use the lease lock; the
 * Web Locks path runs in Chromium (`test/browser/`).
 */
let next = 0;
function uniqueName(): string {
  return `contract-${process.pid}-${next++}-${Math.random().toString(36).slice(2)}`;
}

describeOutboxContract('IndexedDBOutbox', {
  persistent: true,
  modelRuns: 15,
  async create({ limits, now }) {
    const name = uniqueName();
    const options: IndexedDBOutboxOptions = { name, ...limits, ...(now ? { now } : {}), locks: null };
    let outbox = createIndexedDBOutbox(options);
    return {
      outbox,
      reopen: async () => {
        await outbox.close();
        outbox = createIndexedDBOutbox(options);
        return outbox;
      },
      dispose: async () => {
        await outbox.close();
        await deleteOutboxDatabase(name);
      },
    };
  },
});

describe('IndexedDBOutbox', () => {
  const open: IndexedDBOutbox[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });
  function make(options: IndexedDBOutboxOptions): IndexedDBOutbox {
    const o = createIndexedDBOutbox({ locks: null, ...options });
    open.push(o);
    return o;
  }

  it('rejects bad options with errors that name the option', () => {
    const bad: [IndexedDBOutboxOptions, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 7 as unknown as string }, 'name'],
      [{ persistIntervalMs: -1 }, 'persistIntervalMs'],
      [{ persistIntervalMs: 1.5 }, 'persistIntervalMs'],
      [{ flushEvents: 0 }, 'flushEvents'],
      [{ leaseMs: 10 }, 'leaseMs'],
      [{ leaseMs: 2 ** 31 }, 'leaseMs'],
      [{ locks: {} as never }, 'locks'],
      [{ maxEvents: 0 }, 'maxEvents'],
      [{ overflow: 'sometimes' as never }, 'overflow'],
      [{ now: 5 as never }, 'now'],
      [{ indexedDB: {} as IDBFactory }, 'indexedDB'],
    ];
    for (const [options, option] of bad) {
      let error: unknown;
      try {
        createIndexedDBOutbox({ locks: null, ...options });
      } catch (e) {
        error = e;
      }
      expect(error, option).toBeInstanceOf(OutboxError);
      expect((error as { option: string }).option).toBe(option);
    }
  });

  it('never hands out an acked record to a claim that overlaps the ack (several delivery workers)', async () => {
    for (let round = 0; round < 20; round++) {
      const name = uniqueName();
      const o = make({ name });
      const records = makeRecords(40);
      o.append(records);
      await o.persist();
      const first = await o.claim(20, Infinity);
      // The second claim starts before the ack and reads the store while the delete is pending.
      const second = o.claim(20, Infinity);
      for (let tick = 0; tick < round % 5; tick++) await new Promise((resolve) => setImmediate(resolve));
      const acked = o.ack(first!);
      const third = o.claim(20, Infinity);
      await acked;
      const later = [...((await second)?.records ?? []), ...((await third)?.records ?? [])];
      const firstIds = new Set(first!.records.map((r) => r.uuid));
      expect(later.filter((r) => firstIds.has(r.uuid))).toEqual([]);
      expect(new Set(later.map((r) => r.uuid)).size).toBe(later.length);
    }
  });

  it('accepts 0 for persistIntervalMs and writes on the next tick', async () => {
    const name = uniqueName();
    const a = make({ name, persistIntervalMs: 0 });
    const records = makeRecords(3);
    a.append(records);
    // A second outbox on the same database sees the records without anyone calling persist().
    const b = make({ name });
    await expect.poll(async () => (await b.size()).events, { timeout: 10_000 }).toBe(3);
  });

  it('writes within persistIntervalMs without persist(), in one group', async () => {
    const name = uniqueName();
    const a = make({ name, persistIntervalMs: 20 });
    for (let i = 0; i < 50; i++) a.append(makeRecords(1));
    const b = make({ name });
    await expect.poll(async () => (await b.size()).events, { timeout: 10_000 }).toBe(50);
  });

  it('enforces the limits across two outboxes on one database (shared totals)', async () => {
    const name = uniqueName();
    const a = make({ name, maxEvents: 5 });
    const b = make({ name, maxEvents: 5 });
    const drops: OutboxDrop[] = [];
    a.onDrop((d) => drops.push(d));
    b.onDrop((d) => drops.push(d));
    const first = makeRecords(4);
    const second = makeRecords(4);
    a.append(first);
    await a.persist();
    b.append(second);
    await b.persist();
    expect(drops.filter((d) => d.reason === 'overflow').reduce((n, d) => n + d.count, 0)).toBe(3);
    const batch = await a.claim(100, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual([first[3]!.uuid, ...second.map((r) => r.uuid)]);
  });

  it('lets only one outbox of a database claim at a time (lease), and the next one take over after close', async () => {
    const name = uniqueName();
    const a = make({ name });
    const b = make({ name });
    const records = makeRecords(6);
    a.append(records);
    await a.persist();
    const held = await a.claim(2, Infinity);
    expect(held?.records.length).toBe(2);
    expect(await b.claim(10, Infinity)).toBeNull();
    await a.close();
    const taken = await b.claim(10, Infinity);
    expect(taken?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
  });

  it('takes over an expired lease of a holder that never let go (a crashed tab)', async () => {
    const name = uniqueName();
    let now = Date.now();
    const a = make({ name, leaseMs: 1000, now: () => now });
    const b = make({ name, leaseMs: 1000, now: () => now });
    a.append(makeRecords(3));
    const held = await a.claim(3, Infinity);
    expect(held?.records.length).toBe(3);
    expect(await b.claim(10, Infinity)).toBeNull();
    // a stops renewing (its clock says nothing passed); b's clock moves past the lease.
    const bNow = now + 5000;
    const c = make({ name, leaseMs: 1000, now: () => bNow });
    const taken = await c.claim(10, Infinity);
    expect(taken?.records.map((r) => r.uuid)).toEqual(held?.records.map((r) => r.uuid));
    now += 0;
  });

  it('a batch claimed before clear() is not handed out by the tab that takes over the lease (a tab that died or froze)', async () => {
    // Claims live in the holder's memory: what the clear left in the store for the batch in
    // flight was claimable by the next holder, and sent after consent was withdrawn.
    const name = uniqueName();
    const now = Date.now();
    const a = make({ name, leaseMs: 1000, now: () => now });
    const records = makeRecords(3);
    a.append(records);
    await a.persist();
    const inFlight = await a.claim(1, Infinity);
    expect(inFlight?.records.map((r) => r.uuid)).toEqual([records[0]!.uuid]);
    expect(await a.clear()).toBe(2);
    // a stops renewing; the next tab's clock is past the lease.
    const b = make({ name, leaseMs: 1000, now: () => now + 5000 });
    expect(await b.claim(10, Infinity)).toBeNull();
    expect((await b.size()).events).toBe(0);
  });

  it('skips, deletes and counts damaged records; never fatal', async () => {
    const name = uniqueName();
    const a = make({ name });
    const good = makeRecords(3);
    a.append(good);
    await a.persist();
    await a.close();
    // Damage from outside: wrong types, a byte count that does not match, a bare string.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(databaseName(name));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('records', 'readwrite');
      const store = tx.objectStore('records');
      store.put({ s: 2, u: good[1]!.uuid, j: good[1]!.json, t: 1, b: 3 });
      store.put({ s: 10, u: 5, j: null });
      store.put({ s: 11, junk: true });
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    const b = make({ name });
    const drops: OutboxDrop[] = [];
    b.onDrop((d) => drops.push(d));
    b.append(makeRecords(1));
    const batch = await b.claim(100, Infinity);
    expect(batch?.records.map((r) => r.uuid).slice(0, 2)).toEqual([good[0]!.uuid, good[2]!.uuid]);
    expect(batch?.records.length).toBe(3);
    expect(drops.filter((d) => d.reason === 'corrupt').reduce((n, d) => n + d.count, 0)).toBe(3);
    await b.ack(batch!);
    expect((await b.size()).events).toBe(0);
  });

  it('deletes and counts a record whose json no longer parses, instead of claiming it with good ones', async () => {
    // Its types and byte count are intact: only its text was cut short. Pasted into a request
    // body, it made the whole batch invalid JSON, and the server's 400 dead-lettered every event.
    const name = uniqueName();
    const a = make({ name });
    const good = makeRecords(2);
    a.append(good);
    await a.persist();
    await a.close();
    const cut = '{"uuid":"cut-0001","event":"e","properties":{';
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(databaseName(name));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction(['records', 'meta'], 'readwrite');
      tx.objectStore('records').put({ s: 3, u: 'cut-0001', j: cut, t: Date.now(), b: cut.length });
      tx.objectStore('meta').delete('totals');
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
    });
    db.close();
    const b = make({ name });
    const drops: OutboxDrop[] = [];
    b.onDrop((d) => drops.push(d));
    const batch = await b.claim(100, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(good.map((r) => r.uuid));
    for (const r of batch!.records) expect(() => JSON.parse(r.json) as unknown).not.toThrow();
    expect(drops.filter((d) => d.reason === 'corrupt').reduce((n, d) => n + d.count, 0)).toBe(1);
    await b.ack(batch!);
    expect((await b.size()).events).toBe(0);
    // Deleted where it was met: not counted again.
    expect(await b.claim(100, Infinity)).toBeNull();
    expect(drops.filter((d) => d.reason === 'corrupt').reduce((n, d) => n + d.count, 0)).toBe(1);
  });

  it('recounts damaged totals from the records', async () => {
    const name = uniqueName();
    const a = make({ name });
    a.append(makeRecords(4, 100));
    await a.persist();
    await a.close();
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open(databaseName(name));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    await new Promise<void>((resolve) => {
      const tx = db.transaction('meta', 'readwrite');
      tx.objectStore('meta').put({ events: -3, bytes: 'lots' }, 'totals');
      tx.oncomplete = () => resolve();
    });
    db.close();
    const b = make({ name });
    expect(await b.size()).toMatchObject({ events: 4, bytes: 400 });
  });

  it('reports a database that cannot be opened as a typed io error, and append still never throws', async () => {
    const broken = {
      open() {
        const request = {} as IDBOpenDBRequest & { error: DOMException };
        setTimeout(() => {
          Object.defineProperty(request, 'error', {
            value: new DOMException('blocked', 'InvalidStateError'),
          });
          request.onerror?.(new Event('error') as never);
        }, 0);
        return request;
      },
    } as unknown as IDBFactory;
    const o = make({ name: uniqueName(), indexedDB: broken });
    const error = await o.opened.catch((e: unknown) => e);
    expect((error as OutboxError).kind).toBe('io');
    expect(() => o.append(makeRecords(2))).not.toThrow();
    expect(((await o.size().catch((e: unknown) => e)) as OutboxError).kind).toBe('io');
    expect(((await o.claim(1, 1).catch((e: unknown) => e)) as OutboxError).kind).toBe('io');
  });

  it('another tab deletes the database: this tab opens it again and goes on delivering', async () => {
    const name = uniqueName();
    const a = make({ name });
    a.append(makeRecords(2));
    await a.persist();
    const first = await a.claim(10, Infinity);
    await a.ack(first!);
    await deleteOutboxDatabase(name);
    const later = makeRecords(3);
    a.append(later);
    // Before, every call from here on failed: 'the database was closed by another connection'.
    await a.persist();
    const batch = await a.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(later.map((r) => r.uuid));
    await a.ack(batch!);
    expect((await a.size()).events).toBe(0);
  });

  it('a batch in flight when another tab deletes the database: its ack removes nothing of the new one', async () => {
    const name = uniqueName();
    const a = make({ name });
    a.append(makeRecords(3));
    await a.persist();
    const inFlight = await a.claim(10, Infinity);
    expect(inFlight?.records).toHaveLength(3);
    await deleteOutboxDatabase(name);
    // Written into the new database, under record numbers the old batch also had.
    const later = makeRecords(3);
    a.append(later);
    await a.persist();
    // The old batch is answered now: before, its ack deleted the new records by number.
    await a.ack(inFlight!);
    const batch = await a.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(later.map((r) => r.uuid));
    await a.release(batch!);
    expect((await a.size()).events).toBe(3);
  });

  it('another tab upgrades the database past this version: claims fail as io errors and let the delivery lock go', async () => {
    const name = uniqueName();
    const locks = new FakeLocks();
    const a = make({ name, locks });
    a.append(makeRecords(2));
    await a.persist();
    await new Promise<void>((resolve, reject) => {
      const request = indexedDB.open(databaseName(name), 1000);
      request.onsuccess = () => {
        request.result.close();
        resolve();
      };
      request.onerror = () => reject(request.error);
    });
    const error = await a.claim(10, Infinity).catch((e: unknown) => e);
    expect((error as OutboxError).kind).toBe('io');
    // Held, it would keep every other tab of the origin from delivering (a newer one can).
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect([...locks.held]).toEqual([]);
  });
});
