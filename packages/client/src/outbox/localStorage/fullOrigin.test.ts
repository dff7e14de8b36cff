/**
 * An origin whose localStorage is full of the app's own data: `setItem` refuses every new chunk
 * (`QuotaExceededError`) and the outbox has nothing older of its own to evict. The page is online,
 * so what it tracks is held in memory and delivered from there, once each, and written when the
 * storage has room again, by the tab holding the delivery lock as by any other tab. On the code
 * before, each such group was dropped (counted `overflow`) and never delivered. The quota is not
 * the outbox's bound: no stored record (another tab's included) is removed to make room, under
 * either overflow policy, neither for new records nor for held ones tried again (before,
 * drop-oldest first removed up to all the unclaimed stored records, counted `overflow`).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger } from '../browserOutbox.test-helpers.js';
import { OutboxIoError } from '../errors.js';
import { FakeLocks } from '../indexeddb/fakeLocks.test-helpers.js';
import { createLocalStorageOutbox } from '../localStorage.js';
import type { LocalStorageOutboxOptions } from '../localStorage.js';
import { drain, makeRecords } from '../outbox.contract.js';
import type { OutboxDrop, OutboxRecord } from '../outbox.js';
import { MemoryStorage } from './memoryStorage.test-helpers.js';

const uuids = (records: readonly OutboxRecord[]): string[] => records.map((r) => r.uuid);
const stored = 'debug localStorage has room again: the events held in memory are stored';

/** The app fills what is left of the origin's quota: nothing new fits; removals still work. */
function fillWithAppData(storage: MemoryStorage): () => void {
  const key = 'app:cache';
  storage.setItem(key, 'x'.repeat(storage.quota - storage.used() - key.length));
  return () => storage.removeItem(key);
}

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('the localStorage outbox on an origin full of the app’s own data', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A tab: its own outbox on the shared storage and Web Locks. */
  function tab(storage: MemoryStorage, locks: FakeLocks, options: LocalStorageOutboxOptions = {}) {
    const logger = recordingLogger();
    const outbox = createLocalStorageOutbox({ storage, locks, logger, flushOnHide: false, ...options });
    const drops: Record<string, number> = {};
    outbox.onDrop((d: OutboxDrop) => (drops[d.reason] = (drops[d.reason] ?? 0) + d.count));
    cleanups.push(() => outbox.close());
    return { outbox, drops, logger };
  }

  function make(options: LocalStorageOutboxOptions = {}) {
    const storage = new MemoryStorage(100_000);
    return { storage, ...tab(storage, new FakeLocks(), options) };
  }

  const heldWarnings = (lines: string[]): number =>
    lines.filter((l) => l.startsWith('warn') && l.includes('held in memory only')).length;

  it('delivers what it tracks, each once, in order; size() counts it, persist() rejects; warned once', async () => {
    const { outbox, drops, logger, storage } = make();
    fillWithAppData(storage);
    const first = makeRecords(5);
    const second = makeRecords(4);
    outbox.append(first);
    const error = await rejection(outbox.persist());
    expect(error).toBeInstanceOf(OutboxIoError);
    expect((error as OutboxIoError).message).toContain('5 events are held in memory only');
    outbox.append(second);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect((await outbox.size()).events).toBe(9);
    expect(drops).toEqual({});
    expect(heldWarnings(logger.lines)).toBe(1);
    expect(logger.lines.filter((l) => l.startsWith('warn localStorage is full'))).toEqual([]);

    expect(await drain(outbox, 3)).toEqual(uuids([...first, ...second]));
    expect(await drain(outbox)).toEqual([]);
    expect((await outbox.size()).events).toBe(0);
    expect(drops).toEqual({});
    await outbox.persist();
  });

  it('drop-oldest removes no stored record for the quota: 50 stored and 20 held are each delivered once, none dropped', async () => {
    const { outbox, drops, storage } = make();
    const stored = makeRecords(50);
    outbox.append(stored);
    await outbox.persist();
    fillWithAppData(storage);
    const held = makeRecords(20);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toThrow('20 events are held in memory only');
    expect((await outbox.size()).events).toBe(70);
    expect(await drain(outbox, 7)).toEqual(uuids([...stored, ...held]));
    expect(drops).toEqual({});
  });

  it('trying the held records again (after an ack) removes no stored record for the quota either', async () => {
    const { outbox, drops, storage } = make();
    const stored = makeRecords(50);
    outbox.append(stored);
    await outbox.persist();
    // All claimed while the group is refused: nothing the first write could remove.
    const acked = await outbox.claim(1, Infinity);
    const released = await outbox.claim(49, Infinity);
    fillWithAppData(storage);
    const held = makeRecords(20);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await outbox.release(released!);
    // The ack frees too little for them and tries them again, 49 unclaimed stored records there.
    await outbox.ack(acked!);
    await expect(outbox.persist()).rejects.toThrow('20 events are held in memory only');
    expect(drops).toEqual({});
    expect(await drain(outbox, 7)).toEqual(uuids([...stored.slice(1), ...held]));
    expect(drops).toEqual({});
  });

  it('a dead-letter replay the quota refuses removes no stored record for the limits: the dead letters stay, nothing dropped', async () => {
    const { outbox, drops, storage } = make({ maxEvents: 20 });
    const dead = makeRecords(5);
    outbox.append(dead);
    const batch = await outbox.claim(5, Infinity);
    await outbox.deadLetter(batch!.records, 'HTTP 400');
    const stored = makeRecords(20);
    outbox.append(stored);
    await outbox.persist();
    fillWithAppData(storage);
    // Refused: they stay dead letters. On the code before, 5 stored records went for the limits
    // (counted overflow) to make room for dead letters that were then not queued.
    expect(await outbox.replayDeadLetters()).toBe(0);
    expect((await outbox.listDeadLetters()).length).toBe(5);
    expect(drops).toEqual({ 'dead-lettered': 5 });
    expect(await drain(outbox, 7)).toEqual(uuids(stored));
  });

  it('the lock holder removes none of another tab’s chunks for the quota: each is delivered once', async () => {
    const storage = new MemoryStorage(100_000);
    const locks = new FakeLocks();
    const a = tab(storage, locks);
    const b = tab(storage, locks);
    a.outbox.append(makeRecords(1));
    await a.outbox.persist();
    const aBatch = await a.outbox.claim(10, Infinity);
    const others = makeRecords(50);
    b.outbox.append(others);
    await b.outbox.persist();
    fillWithAppData(storage);
    const held = makeRecords(20);
    a.outbox.append(held);
    await expect(a.outbox.persist()).rejects.toThrow('20 events are held in memory only');
    await a.outbox.ack(aBatch!);
    expect(await drain(a.outbox, 7)).toEqual(uuids([...others, ...held]));
    expect(await drain(b.outbox)).toEqual([]);
    expect(a.drops).toEqual({});
    expect(b.drops).toEqual({});
  });

  it('a full memory tier under drop-oldest drops its own oldest, not the stored records (older still)', async () => {
    const { outbox, drops, storage } = make({ maxEvents: 5 });
    const stored = makeRecords(3);
    outbox.append(stored);
    await outbox.persist();
    fillWithAppData(storage);
    // Within the limits with the stored ones, refused by the quota: held.
    const first = makeRecords(2);
    outbox.append(first);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect(drops).toEqual({});
    // These join the held ones: the tier holds 5 at most, on its own.
    const more = makeRecords(6);
    outbox.append(more);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect(drops).toEqual({ overflow: 3 });
    expect(await drain(outbox)).toEqual(uuids([...stored, ...[...first, ...more].slice(3)]));
  });

  it('the limits count a group with the stored records, stored or held: past them the oldest go, counted', async () => {
    const { outbox, drops, storage } = make({ maxEvents: 5 });
    outbox.append(makeRecords(5));
    await outbox.persist();
    fillWithAppData(storage);
    const records = makeRecords(8);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect(drops).toEqual({ overflow: 8 });
    expect(await drain(outbox)).toEqual(uuids(records.slice(3)));
  });

  // Review: enforcing the limits after the write (reverted) kept drop-oldest from rotating at
  // the limits on a full origin: the quota refused every group, the oldest stayed on disk and the
  // newest lived only in memory (lost with the page).
  it('at its limits on a full origin, drop-oldest still rotates: the oldest go for the limits and the group is stored in their room', async () => {
    const { outbox, drops, storage } = make({ maxEvents: 10 });
    const first = makeRecords(5);
    const second = makeRecords(5);
    outbox.append(first);
    await outbox.persist();
    outbox.append(second);
    await outbox.persist();
    fillWithAppData(storage);
    const third = makeRecords(5);
    outbox.append(third);
    await outbox.persist();
    expect(drops).toEqual({ overflow: 5 });
    expect((await outbox.size()).events).toBe(10);
    expect(await drain(outbox)).toEqual(uuids([...second, ...third]));
  });

  it('writes the held records once an ack frees room, the app data still there; a reload finds them', async () => {
    const { outbox, storage } = make();
    outbox.append(makeRecords(3, 600));
    await outbox.persist();
    const inFlight = await outbox.claim(10, Infinity);
    fillWithAppData(storage);
    const held = makeRecords(3, 100);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await outbox.ack(inFlight!);
    await outbox.persist();
    await outbox.close();

    const { outbox: reloaded } = tab(storage, new FakeLocks());
    expect(await drain(reloaded)).toEqual(uuids(held));
  });

  it('writes the held records when the storage has room again, with nothing acked (tried again with backoff)', async () => {
    const { outbox, logger, storage } = make();
    const free = fillWithAppData(storage);
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    free();
    await vi.waitFor(() => outbox.persist(), { timeout: 15_000, interval: 100 });
    expect(logger.lines).toContain(stored);
    await outbox.close();

    const { outbox: reloaded } = tab(storage, new FakeLocks());
    expect(await drain(reloaded)).toEqual(uuids(held));
  });

  it.each([
    ['drop-oldest', (r: OutboxRecord[]) => r.slice(3)],
    ['drop-newest', (r: OutboxRecord[]) => r.slice(0, 5)],
  ] as const)(
    'holds no more than the limits (%s): the rest is dropped, counted overflow',
    async (overflow, kept) => {
      const { outbox, drops, storage } = make({ maxEvents: 5, overflow });
      fillWithAppData(storage);
      const records = makeRecords(8);
      outbox.append(records);
      await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
      expect(drops).toEqual({ overflow: 3 });
      expect((await outbox.size()).events).toBe(5);
      expect(await drain(outbox)).toEqual(uuids(kept(records)));
    },
  );

  it('drops the held records past retention, counted', async () => {
    let nowMs = Date.now();
    const { outbox, drops, storage } = make({ retentionMs: 10_000, now: () => nowMs });
    fillWithAppData(storage);
    outbox.append(makeRecords(3, 60, nowMs));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    // Within the retention clock's margin for a jump: taken as time that passed.
    nowMs += 20_000;
    expect(await outbox.claim(10, Infinity)).toBeNull();
    expect(drops).toEqual({ retention: 3 });
    await outbox.persist();
  });

  it('the unload claim takes the held records first, then the stored ones; each goes once', async () => {
    const { outbox, storage } = make({ overflow: 'drop-newest' });
    const first = makeRecords(2);
    outbox.append(first);
    await outbox.persist();
    fillWithAppData(storage);
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const unload = outbox.claimInMemory(100, Infinity);
    expect(uuids(unload!.records)).toEqual(uuids([...held, ...first]));
    await outbox.ack(unload!);
    expect(await drain(outbox)).toEqual([]);
    expect((await outbox.size()).events).toBe(0);
  });

  it('a released batch of held records is delivered again, in order; a dead-lettered one is stored as a dead letter', async () => {
    const { outbox, drops, storage } = make();
    const free = fillWithAppData(storage);
    const records = makeRecords(4);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const batch = await outbox.claim(2, Infinity);
    await outbox.release(batch!);
    const again = await outbox.claim(2, Infinity);
    expect(uuids(again!.records)).toEqual(uuids(records.slice(0, 2)));
    // The dead letters cannot be stored either: not moved, and the records are held (and sent) again.
    await expect(outbox.deadLetter(again!.records, 'HTTP 400')).rejects.toBeInstanceOf(OutboxIoError);
    const both = [await outbox.claim(10, Infinity), await outbox.claim(10, Infinity)];
    const last = both.flatMap((b) => b?.records ?? []);
    expect(uuids(last)).toEqual(uuids([...records.slice(2), ...records.slice(0, 2)]));
    free();
    let letters = 0;
    for (const b of both) if (b !== null) letters += await outbox.deadLetter(b.records, 'HTTP 400');
    expect(letters).toBe(4);
    expect(uuids((await outbox.listDeadLetters()).map((d) => d.record))).toEqual(uuids(last));
    expect((await outbox.size()).events).toBe(0);
    expect(drops).toEqual({ 'dead-lettered': 4 });
  });

  it('a consent clear drops the held records even when an ack frees room during it', async () => {
    const { outbox, drops, storage } = make();
    outbox.append(makeRecords(2, 600));
    await outbox.persist();
    const inFlight = await outbox.claim(10, Infinity);
    fillWithAppData(storage);
    outbox.append(makeRecords(3));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const cleared = outbox.clear();
    await outbox.ack(inFlight!);
    expect(await cleared).toBe(3);
    expect(drops).toEqual({ consent: 3 });
    expect(await drain(outbox)).toEqual([]);
    await outbox.persist();
  });

  it('writes the held records on pagehide when the storage has room by then; the next load finds them', async () => {
    const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    const listeners = new Map<string, () => void>();
    g.addEventListener = (type: string, listener: () => void) => listeners.set(type, listener);
    g.removeEventListener = () => undefined;
    cleanups.push(() => {
      delete g.addEventListener;
      delete g.removeEventListener;
    });
    const storage = new MemoryStorage(100_000);
    const { outbox } = tab(storage, new FakeLocks(), { flushOnHide: true, persistIntervalMs: 60_000 });
    const free = fillWithAppData(storage);
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const unwritten = makeRecords(2);
    outbox.append(unwritten);
    free();
    listeners.get('pagehide')!();
    // The page died there: its outbox is never closed.
    const { outbox: next } = tab(storage, new FakeLocks());
    expect(await drain(next)).toEqual(uuids([...held, ...unwritten]));
  });

  it('counts what is still held at close as unsaved', async () => {
    const { outbox, drops, storage } = make();
    fillWithAppData(storage);
    outbox.append(makeRecords(3));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await outbox.close();
    expect(drops).toEqual({ unsaved: 3 });
  });

  describe('in a tab that does not hold the delivery lock', () => {
    /** Tab A holds the lock (a batch in flight); tab B's chunk is refused. */
    async function twoTabs() {
      const storage = new MemoryStorage(100_000);
      const locks = new FakeLocks();
      const a = tab(storage, locks);
      const b = tab(storage, locks);
      a.outbox.append(makeRecords(1));
      await a.outbox.persist();
      const aBatch = await a.outbox.claim(10, Infinity);
      const free = fillWithAppData(storage);
      const records = makeRecords(4);
      b.outbox.append(records);
      await expect(b.outbox.persist()).rejects.toThrow('4 events are held in memory only');
      return { storage, a, b, aBatch: aBatch!, free, records };
    }

    it('keeps what it could not hand over and delivers it itself, without the lock, each once', async () => {
      const { a, b, aBatch, records } = await twoTabs();
      expect(b.drops).toEqual({});
      expect((await b.outbox.size()).events).toBe(5);
      expect(await drain(b.outbox)).toEqual(uuids(records));
      await a.outbox.ack(aBatch);
      expect(await drain(a.outbox)).toEqual([]);
      expect(b.drops).toEqual({});
    });

    it('hands it over once the storage has room, and the holder delivers it', async () => {
      const { a, b, aBatch, free, records } = await twoTabs();
      free();
      await vi.waitFor(() => b.outbox.persist(), { timeout: 15_000, interval: 100 });
      expect(b.logger.lines).toContain(stored);
      expect(await b.outbox.claim(10, Infinity)).toBeNull();
      await a.outbox.ack(aBatch);
      expect(await drain(a.outbox)).toEqual(uuids(records));
      expect(b.drops).toEqual({});
    });

    it('without Web Locks (the lease key refused too): delivers what it holds, each once', async () => {
      const storage = new MemoryStorage(100_000);
      const { outbox, drops } = tab(storage, new FakeLocks(), { locks: null });
      fillWithAppData(storage);
      const records = makeRecords(4);
      outbox.append(records);
      await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
      expect(await drain(outbox, 3)).toEqual(uuids(records));
      expect(drops).toEqual({});
    });

    // Review: the dead-letter list is read, changed and written back whole; this tab wrote it
    // without the lock, over dead letters the holder had just added (from a late view of them).
    it('stores what it dead-letters under the lock: after the holder lets it go, not over its writes', async () => {
      const { a, b, aBatch, free, records } = await twoTabs();
      const bBatch = await b.outbox.claim(10, Infinity);
      expect(uuids(bBatch!.records)).toEqual(uuids(records));
      free();
      let settled = false;
      const moved = b.outbox.deadLetter(bBatch!.records, 'refused').finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(false);
      await a.outbox.ack(aBatch);
      // The holder's next claim finds nothing and lets the lock go, as its delivery loop does.
      expect(await a.outbox.claim(10, Infinity)).toBeNull();
      expect(await moved).toBe(4);
      expect(uuids((await a.outbox.listDeadLetters()).map((l) => l.record))).toEqual(uuids(records));
      expect(b.drops).toEqual({ 'dead-lettered': 4 });
    });

    it('counts what is still held at its close as unsaved', async () => {
      const { b } = await twoTabs();
      await b.outbox.close();
      expect(b.drops).toEqual({ unsaved: 4 });
    });
  });
});
