import { afterEach, describe, expect, it } from 'vitest';
import { OutboxError } from './errors.js';
import { createLocalStorageOutbox, LOCAL_STORAGE_MAX_BYTES, LocalStorageOutbox } from './localStorage.js';
import type { LocalStorageOutboxOptions } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { FakeLocks } from './indexeddb/fakeLocks.test-helpers.js';
import { describeOutboxContract, drain, makeRecord, makeRecords } from './outbox.contract.js';
import type { OutboxDrop } from './outbox.js';

/** The localStorage outbox in Node, on an in-memory Storage (the real one runs in `test/browser/`). */
describeOutboxContract('LocalStorageOutbox', {
  persistent: true,
  async create({ limits, now }) {
    const storage = new MemoryStorage();
    const options: LocalStorageOutboxOptions = { storage, ...limits, ...(now ? { now } : {}), locks: null };
    let outbox = createLocalStorageOutbox(options);
    return {
      outbox,
      reopen: async () => {
        await outbox.close();
        outbox = createLocalStorageOutbox(options);
        return outbox;
      },
      dispose: async () => {
        await outbox.close();
        storage.clear();
      },
    };
  },
});

function total(drops: OutboxDrop[], reason: OutboxDrop['reason']): number {
  return drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.count, 0);
}

describe('LocalStorageOutbox', () => {
  const open: LocalStorageOutbox[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });
  function make(options: LocalStorageOutboxOptions): LocalStorageOutbox {
    const o = createLocalStorageOutbox({ locks: null, ...options });
    open.push(o);
    return o;
  }

  it('rejects bad options with errors that name the option', () => {
    const storage = new MemoryStorage();
    const bad: [LocalStorageOutboxOptions, string][] = [
      [{ storage, chunkChars: 10 }, 'chunkChars'],
      [{ storage, name: '' }, 'name'],
      [{ storage, maxBytes: -1 }, 'maxBytes'],
      [{ storage: {} as never }, 'storage'],
    ];
    for (const [options, option] of bad) {
      let error: unknown;
      try {
        createLocalStorageOutbox({ locks: null, ...options });
      } catch (e) {
        error = e;
      }
      expect(error, option).toBeInstanceOf(OutboxError);
      expect((error as { option: string }).option).toBe(option);
    }
  });

  it('refuses a storage that throws on write (private mode) with a typed io error', () => {
    const storage = new MemoryStorage(0);
    let error: unknown;
    try {
      createLocalStorageOutbox({ storage, locks: null });
    } catch (e) {
      error = e;
    }
    expect((error as OutboxError).kind).toBe('io');
  });

  it('a page going away writes the group a write was still waiting the lock for, once', async () => {
    const storage = new MemoryStorage();
    // Web Locks that answer only when told: the buffer's write waits for the lock meanwhile.
    let grant: (() => void) | undefined;
    const locks = {
      request: (name: string, _o: { ifAvailable: boolean }, callback: (lock: unknown) => unknown) =>
        new Promise((resolve, reject) => {
          grant = () => Promise.resolve(callback({ name })).then(resolve, reject);
        }),
    };
    const o = createLocalStorageOutbox({ storage, locks, persistIntervalMs: 0, flushOnHide: false });
    const records = makeRecords(5);
    o.append(records);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(grant).toBeDefined(); // the write is waiting for the lock
    // The unload path (pagehide, or the unload send's claim) writes in the same turn.
    const unload = o.claimInMemory(100, Infinity);
    expect(unload?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
    const other = createLocalStorageOutbox({ storage, locks: null, flushOnHide: false, leaseMs: 100 });
    expect((await other.size()).events).toBe(5);
    // The waiting write gets the lock at last: it must not write the group a second time.
    grant!();
    await o.persist().catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect((await other.size()).events).toBe(5);
    await other.close();
  });

  it('writes one small chunk per group, not the queue', async () => {
    const storage = new MemoryStorage();
    const o = make({ storage, chunkChars: 4096 });
    for (let i = 0; i < 200; i++) {
      o.append(makeRecords(5, 100));
      await o.persist();
    }
    const before = storage.written;
    o.append(makeRecords(5, 100));
    await o.persist();
    // 1 000 records (~130 KB) are queued; one group wrote one new chunk plus small keys.
    expect(storage.written - before).toBeLessThan(4096 + 1000);
    expect((await o.size()).events).toBe(1005);
    expect(storage.keys().filter((k) => k.includes(':c:')).length).toBeGreaterThan(20);
  });

  it('holds at most LOCAL_STORAGE_MAX_BYTES unless maxBytes is set, dropping the oldest (counted)', async () => {
    const storage = new MemoryStorage(20_000_000);
    const o = make({ storage });
    const drops: OutboxDrop[] = [];
    o.onDrop((d) => drops.push(d));
    const records = makeRecords(3000, 500);
    for (let i = 0; i < records.length; i += 500) {
      o.append(records.slice(i, i + 500));
      await o.persist();
    }
    const size = await o.size();
    expect(size.bytes).toBeLessThanOrEqual(LOCAL_STORAGE_MAX_BYTES);
    expect(size.bytes).toBeGreaterThan(LOCAL_STORAGE_MAX_BYTES - 50_000);
    expect(total(drops, 'overflow')).toBe(3000 - size.events);
    const wide = make({ storage: new MemoryStorage(20_000_000), maxBytes: 4 * 1024 * 1024 });
    wide.append(records);
    await wide.persist();
    expect((await wide.size()).events).toBe(3000);
  });

  it('a quota full of its own records removes none of them: the rest is held in memory, the held oldest dropped past the limits', async () => {
    const storage = new MemoryStorage(20_000);
    const o = make({ storage, chunkChars: 2048, maxEvents: 100, locks: new FakeLocks() });
    const drops: OutboxDrop[] = [];
    o.onDrop((d) => drops.push(d));
    const records = makeRecords(300, 200);
    for (let i = 0; i < records.length; i += 10) {
      o.append(records.slice(i, i + 10));
      await o.persist().catch(() => undefined);
    }
    expect(storage.used()).toBeLessThanOrEqual(20_000);
    const size = await o.size();
    // The quota's room in records (about 70): those stay; the tier holds the newest 100.
    const stored = size.events - 100;
    expect(stored).toBeGreaterThan(20);
    expect(stored).toBeLessThan(100);
    expect(total(drops, 'overflow')).toBe(300 - size.events);
    const kept = await drain(o);
    expect(kept).toEqual([...records.slice(0, stored), ...records.slice(200)].map((r) => r.uuid));
  });

  it('warns of a full storage once per half minute, however many replays it refuses, then says how many it left out', async () => {
    const storage = new MemoryStorage(6_000);
    const warnings: [string, Record<string, unknown> | undefined][] = [];
    let nowMs = 1_000_000;
    const o = make({
      storage,
      now: () => nowMs,
      logger: { debug: () => {}, error: () => {}, warn: (m, d) => void warnings.push([m, d]) },
    });
    o.append(makeRecords(4, 300));
    await o.persist();
    const batch = await o.claim(10, Infinity);
    await o.deadLetter(batch!.records, 'HTTP 400');
    // The app leaves less room than their chunk needs: every replay is refused.
    storage.setItem('app:cache', 'x'.repeat(storage.quota - storage.used() - 1_000));
    for (let i = 0; i < 20; i++) {
      expect(await o.replayDeadLetters()).toBe(0);
      nowMs += 100;
    }
    const full = warnings.filter(([m]) => m.startsWith('localStorage is full'));
    expect(full).toHaveLength(1);
    nowMs += 30_000;
    expect(await o.replayDeadLetters()).toBe(0);
    const later = warnings.filter(([m]) => m.startsWith('localStorage is full'));
    expect(later).toHaveLength(2);
    expect(later[1]![1]?.['alsoSinceLastLine']).toBeGreaterThan(0);
    expect((await o.listDeadLetters()).length).toBe(4);
  });

  it('holds the group in memory under drop-newest on a full storage, and delivers it after the stored one', async () => {
    const storage = new MemoryStorage(3_000);
    const o = make({ storage, overflow: 'drop-newest' });
    const drops: OutboxDrop[] = [];
    o.onDrop((d) => drops.push(d));
    const stored = makeRecords(5, 400);
    o.append(stored);
    await o.persist();
    const held = makeRecords(5, 400);
    o.append(held);
    await expect(o.persist()).rejects.toThrow('5 events are held in memory only');
    expect((await o.size()).events).toBe(10);
    expect(await drain(o)).toEqual([...stored, ...held].map((r) => r.uuid));
    expect(drops).toEqual([]);
  });

  it('lets one outbox claim at a time; a non-holder adds chunks of its own that the holder then delivers', async () => {
    const storage = new MemoryStorage();
    const a = make({ storage });
    const b = make({ storage });
    const first = makeRecords(3);
    a.append(first);
    const held = await a.claim(2, Infinity);
    expect(held?.records.length).toBe(2);
    const second = makeRecords(2);
    b.append(second);
    await b.persist();
    expect(await b.claim(10, Infinity)).toBeNull();
    const rest = await a.claim(10, Infinity);
    expect(rest?.records.map((r) => r.uuid)).toEqual([first[2]!.uuid, ...second.map((r) => r.uuid)]);
    await a.ack(held!);
    await a.ack(rest!);
    expect(await a.claim(10, Infinity)).toBeNull();
    // a let go when it found nothing: b may claim now, and finds nothing either.
    expect(await b.claim(10, Infinity)).toBeNull();
    expect((await b.size()).events).toBe(0);
  });

  it('takes over a lease that expired (a tab that died holding claims)', async () => {
    const storage = new MemoryStorage();
    const now = Date.now();
    const a = make({ storage, leaseMs: 1000, now: () => now });
    a.append(makeRecords(3));
    const held = await a.claim(3, Infinity);
    const b = make({ storage, leaseMs: 1000, now: () => now });
    expect(await b.claim(10, Infinity)).toBeNull();
    const c = make({ storage, leaseMs: 1000, now: () => now + 5000 });
    const taken = await c.claim(10, Infinity);
    expect(taken?.records.map((r) => r.uuid)).toEqual(held?.records.map((r) => r.uuid));
  });

  it('a batch claimed before clear() is not handed out by the tab that takes over the lease (a tab that died or froze)', async () => {
    // Claims live in the holder's memory: what the clear left in the chunks for the batch in
    // flight was claimable by the next holder, and sent after consent was withdrawn.
    const storage = new MemoryStorage();
    const now = Date.now();
    const a = make({ storage, leaseMs: 1000, now: () => now });
    const records = makeRecords(3);
    a.append(records);
    const inFlight = await a.claim(1, Infinity);
    expect(inFlight?.records.map((r) => r.uuid)).toEqual([records[0]!.uuid]);
    expect(await a.clear()).toBe(2);
    // a stops renewing; the next tab's clock is past the lease.
    const b = make({ storage, leaseMs: 1000, now: () => now + 5000 });
    expect(await b.claim(10, Infinity)).toBeNull();
    expect((await b.size()).events).toBe(0);
  });

  it('skips damaged chunks and entries, counts them once, and keeps the rest', async () => {
    const storage = new MemoryStorage();
    const a = make({ storage });
    const good = makeRecords(2);
    a.append(good);
    await a.persist();
    await a.close();
    storage.setItem('homing-outbox:default:c:0000000zzz:x', '{not json');
    storage.setItem(
      'homing-outbox:default:c:0000000zzy:y',
      `[[1,2,3],0,["u","{}",1e400],${JSON.stringify([good[0]!.uuid + 'b', '{}', Date.now()])}]`,
    );
    const b = make({ storage });
    const drops: OutboxDrop[] = [];
    b.onDrop((d) => drops.push(d));
    const batch = await b.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual([...good.map((r) => r.uuid), good[0]!.uuid + 'b']);
    expect(total(drops, 'corrupt')).toBe(3);
    await b.release(batch!);
    await b.claim(10, Infinity);
    expect(total(drops, 'corrupt')).toBe(3);
  });

  it('drops and counts an entry whose json no longer parses in a well-formed chunk, keeping the rest', async () => {
    // Pasted into a request body, it made the whole batch invalid JSON (a 400: all dead-lettered).
    const storage = new MemoryStorage();
    const good = makeRecords(2);
    const cut = '{"uuid":"cut-0001","event":"e","properties":{';
    storage.setItem(
      'homing-outbox:default:c:0000000000:hand',
      JSON.stringify([
        [good[0]!.uuid, good[0]!.json, Date.now()],
        ['cut-0001', cut, Date.now()],
        [good[1]!.uuid, good[1]!.json, Date.now()],
      ]),
    );
    const b = make({ storage });
    const drops: OutboxDrop[] = [];
    b.onDrop((d) => drops.push(d));
    const batch = await b.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(good.map((r) => r.uuid));
    expect(total(drops, 'corrupt')).toBe(1);
    await b.ack(batch!);
    expect(await b.claim(10, Infinity)).toBeNull();
    expect(total(drops, 'corrupt')).toBe(1);
    expect(storage.keys().filter((k) => k.includes(':c:'))).toEqual([]);
  });

  it('writes late appends after close at once', async () => {
    const storage = new MemoryStorage();
    const a = make({ storage });
    await a.close();
    const late = makeRecord();
    a.append([late]);
    const b = make({ storage });
    const batch = await b.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual([late.uuid]);
  });

  it('reports a storage that starts failing as typed io errors and loses nothing already stored', async () => {
    const storage = new MemoryStorage();
    const a = make({ storage });
    const kept = makeRecords(2);
    a.append(kept);
    await a.persist();
    storage.failWrites = new DOMException('denied', 'SecurityError');
    a.append(makeRecords(1));
    expect(((await a.persist().catch((e: unknown) => e)) as OutboxError).kind).toBe('io');
    expect(((await a.setState('k', 1).catch((e: unknown) => e)) as OutboxError).kind).toBe('io');
    storage.failWrites = undefined;
    const batch = await a.claim(10, Infinity);
    // The record whose write failed was kept in memory and written once storage worked again.
    expect(batch?.records.length).toBe(3);
    expect(batch?.records.map((r) => r.uuid).slice(0, 2)).toEqual(kept.map((r) => r.uuid));
  });
});
