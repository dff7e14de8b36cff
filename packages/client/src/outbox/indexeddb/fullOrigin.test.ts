/**
 * An origin whose storage is full of the app's own data: IndexedDB refuses every new record
 * (`QuotaExceededError`) and the outbox has nothing older of its own to evict. The page is online,
 * so what it tracks is held in memory and delivered from there, once each, and written when
 * the storage has room again. On the code before, each such group was dropped (counted
 * `overflow`) and never delivered. The quota is not the outbox's bound: no stored record is
 * deleted to make room, under either overflow policy (before, drop-oldest first deleted up to
 * all the unclaimed stored records, counted `overflow`, and held only what still did not fit).
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fillOrigin, recordingLogger } from '../browserOutbox.test-helpers.js';
import { OutboxIoError } from '../errors.js';
import { createIndexedDBOutbox } from '../indexeddb.js';
import type { IndexedDBOutboxOptions } from '../indexeddb.js';
import { drain, makeRecords } from '../outbox.contract.js';
import type { OutboxDrop, OutboxRecord } from '../outbox.js';
import { MemoryStorage } from '../localStorage/memoryStorage.test-helpers.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';

let n = 0;
const unique = (): string => `full-origin-${process.pid}-${n++}`;
const uuids = (records: readonly OutboxRecord[]): string[] => records.map((r) => r.uuid);

function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('the IndexedDB outbox on an origin full of the app’s own data', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  function make(options: IndexedDBOutboxOptions = {}) {
    const name = options.name ?? unique();
    const logger = recordingLogger();
    const outbox = createIndexedDBOutbox({ name, locks: null, logger, ...options });
    const drops: Record<string, number> = {};
    outbox.onDrop((d: OutboxDrop) => (drops[d.reason] = (drops[d.reason] ?? 0) + d.count));
    cleanups.push(async () => {
      await outbox.close();
      await deleteOutboxDatabase(name);
    });
    return { outbox, drops, logger, name };
  }

  function full(): () => void {
    const free = fillOrigin();
    cleanups.push(free);
    return free;
  }

  const heldWarnings = (lines: string[]): number =>
    lines.filter((l) => l.startsWith('warn') && l.includes('held in memory only')).length;

  it('delivers what it tracks, each once, in order; size() counts it, persist() rejects; warned once', async () => {
    const { outbox, drops, logger } = make();
    await outbox.persist();
    full();
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

    expect(await drain(outbox, 3)).toEqual(uuids([...first, ...second]));
    expect(await drain(outbox)).toEqual([]);
    expect((await outbox.size()).events).toBe(0);
    expect(drops).toEqual({});
    // Nothing is held any more: nothing is unstored.
    await outbox.persist();
  });

  it('drop-oldest deletes no stored record for the quota: 50 stored and 20 held are each delivered once, none dropped', async () => {
    const { outbox, drops } = make();
    const stored = makeRecords(50);
    outbox.append(stored);
    await outbox.persist();
    full();
    const held = makeRecords(20);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toThrow('20 events are held in memory only');
    expect((await outbox.size()).events).toBe(70);
    expect(await drain(outbox, 7)).toEqual(uuids([...stored, ...held]));
    expect(drops).toEqual({});
  });

  it('trying the held records again (after an ack) deletes no stored record for the quota either', async () => {
    const { outbox, drops } = make();
    const stored = makeRecords(50);
    outbox.append(stored);
    await outbox.persist();
    // All claimed while the group is refused: nothing the first write could delete.
    const acked = await outbox.claim(10, Infinity);
    const released = await outbox.claim(40, Infinity);
    full();
    const held = makeRecords(20);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await outbox.release(released!);
    // The ack tries the held records in storage again, with 40 unclaimed stored records there.
    await outbox.ack(acked!);
    await expect(outbox.persist()).rejects.toThrow('20 events are held in memory only');
    expect(drops).toEqual({});
    expect(await drain(outbox, 7)).toEqual(uuids([...stored.slice(10), ...held]));
    expect(drops).toEqual({});
  });

  it('a full memory tier under drop-oldest drops its own oldest, not the stored records (older still)', async () => {
    const { outbox, drops } = make({ maxEvents: 5 });
    const stored = makeRecords(5);
    outbox.append(stored);
    await outbox.persist();
    full();
    const held = makeRecords(8);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect(drops).toEqual({ overflow: 3 });
    expect(await drain(outbox)).toEqual(uuids([...stored, ...held.slice(3)]));
  });

  it('delivers the stored records first, then the held ones (drop-newest keeps what is stored)', async () => {
    const { outbox, drops } = make({ overflow: 'drop-newest' });
    const stored = makeRecords(3);
    outbox.append(stored);
    await outbox.persist();
    full();
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect((await outbox.size()).events).toBe(6);
    expect(await drain(outbox, 2)).toEqual(uuids([...stored, ...held]));
    expect(drops).toEqual({});
  });

  it('writes the held records once an ack frees room, and a reopened outbox finds them', async () => {
    const name = unique();
    const { outbox } = make({ name });
    const stored = makeRecords(2);
    outbox.append(stored);
    await outbox.persist();
    const inFlight = await outbox.claim(10, Infinity);
    const free = full();
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    free();
    await outbox.ack(inFlight!);
    await outbox.persist();
    await outbox.close();

    const { outbox: reopened } = make({ name });
    expect(await drain(reopened)).toEqual(uuids(held));
  });

  it('writes the held records when the storage has room again, with nothing acked (tried again with backoff)', async () => {
    const name = unique();
    const { outbox, logger } = make({ name });
    const free = full();
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    free();
    await vi.waitFor(() => outbox.persist(), { timeout: 15_000, interval: 100 });
    expect(logger.lines).toContain('debug IndexedDB has room again: the events held in memory are stored');
    await outbox.close();

    const { outbox: reopened } = make({ name });
    expect(await drain(reopened)).toEqual(uuids(held));
  });

  it.each([
    ['drop-oldest', (r: OutboxRecord[]) => r.slice(3)],
    ['drop-newest', (r: OutboxRecord[]) => r.slice(0, 5)],
  ] as const)(
    'holds no more than the limits (%s): the rest is dropped, counted overflow',
    async (overflow, kept) => {
      const { outbox, drops } = make({ maxEvents: 5, overflow });
      full();
      const records = makeRecords(8);
      outbox.append(records);
      await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
      expect(drops).toEqual({ overflow: 3 });
      expect((await outbox.size()).events).toBe(5);
      expect(await drain(outbox)).toEqual(uuids(kept(records)));
    },
  );

  it('the unload claim takes the held records first, then the unwritten ones; each goes once', async () => {
    const { outbox } = make({ persistIntervalMs: 60_000, flushOnHide: false });
    full();
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const unwritten = makeRecords(2);
    outbox.append(unwritten);
    const unload = outbox.claimInMemory(100, Infinity);
    expect(uuids(unload!.records)).toEqual(uuids([...held, ...unwritten]));
    await outbox.ack(unload!);
    expect(await drain(outbox)).toEqual([]);
    expect((await outbox.size()).events).toBe(0);
  });

  it('a released batch of held records is delivered again, in order; a dead-lettered one is stored as a dead letter', async () => {
    const { outbox, drops } = make();
    const free = full();
    const records = makeRecords(4);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const batch = await outbox.claim(2, Infinity);
    await outbox.release(batch!);
    const again = await outbox.claim(2, Infinity);
    expect(uuids(again!.records)).toEqual(uuids(records.slice(0, 2)));
    // The dead-letter store is full too: not moved, and the records are held (and sent) again.
    await expect(outbox.deadLetter(again!.records, 'HTTP 400')).rejects.toBeInstanceOf(OutboxIoError);
    free();
    const last = await outbox.claim(10, Infinity);
    expect(uuids(last!.records)).toEqual(uuids([...records.slice(2), ...records.slice(0, 2)]));
    expect(await outbox.deadLetter(last!.records, 'HTTP 400')).toBe(4);
    expect(uuids((await outbox.listDeadLetters()).map((d) => d.record))).toEqual(uuids(last!.records));
    expect((await outbox.size()).events).toBe(0);
    expect(drops).toEqual({ 'dead-lettered': 4 });
  });

  it('two workers dead-letter held batches at once: each record becomes one dead letter', async () => {
    const { outbox, drops } = make();
    const free = full();
    const records = makeRecords(4);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const a = await outbox.claim(2, Infinity);
    const b = await outbox.claim(2, Infinity);
    free();
    expect(
      await Promise.all([outbox.deadLetter(a!.records, 'A'), outbox.deadLetter(b!.records, 'B')]),
    ).toEqual([2, 2]);
    const letters = await outbox.listDeadLetters();
    expect(letters.map((l) => [l.record.uuid, l.reason])).toEqual([
      ...a!.records.map((r) => [r.uuid, 'A']),
      ...b!.records.map((r) => [r.uuid, 'B']),
    ]);
    expect((await outbox.size()).deadLetters).toBe(4);
    expect(drops).toEqual({ 'dead-lettered': 4 });
  });

  it('a dead letter neither stored nor queued again (drop-newest, the tier refilled meanwhile) is counted overflow', async () => {
    const { outbox, drops } = make({ maxEvents: 4, overflow: 'drop-newest' });
    full();
    const records = makeRecords(4);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const batch = await outbox.claim(2, Infinity);
    // Out of the tier at once; while the store refuses them, two more fill the room they left.
    const dead = rejection(outbox.deadLetter(batch!.records, 'HTTP 400'));
    const more = makeRecords(2);
    outbox.append(more);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect(await dead).toBeInstanceOf(OutboxIoError);
    expect(drops).toEqual({ overflow: 2 });
    expect((await outbox.size()).events).toBe(4);
    expect(await drain(outbox)).toEqual(uuids([...records.slice(2), ...more]));
  });

  it('a consent clear drops the held records even when an ack frees room during it', async () => {
    const { outbox, drops } = make();
    outbox.append(makeRecords(2));
    await outbox.persist();
    const inFlight = await outbox.claim(10, Infinity);
    const free = full();
    outbox.append(makeRecords(3));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    free();
    // The ack's delete commits while the clear runs: room, and a retry of the held records.
    const acked = outbox.ack(inFlight!);
    const cleared = outbox.clear();
    await acked;
    expect(await cleared).toBe(3);
    expect(drops).toEqual({ consent: 3 });
    expect(await drain(outbox)).toEqual([]);
    await outbox.persist();
  });

  it('a batch of held records released after the others were stored is stored too (retried)', async () => {
    const { outbox, logger } = make();
    const free = full();
    const records = makeRecords(3);
    outbox.append(records);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const batch = await outbox.claim(2, Infinity);
    free();
    const stored = 'debug IndexedDB has room again: the events held in memory are stored';
    // The backoff stores the one not in flight.
    await vi.waitFor(() => expect(logger.lines).toContain(stored), { timeout: 5_000, interval: 50 });
    await outbox.release(batch!);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await vi.waitFor(() => outbox.persist(), { timeout: 5_000, interval: 100 });
    expect(await drain(outbox)).toEqual(uuids([...records.slice(2), ...records.slice(0, 2)]));
  });

  it('saves the held records to the unload spill on pagehide; the next load takes them back and stores them', async () => {
    const g = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    const listeners = new Map<string, () => void>();
    g.addEventListener = (type: string, listener: () => void) => listeners.set(type, listener);
    g.removeEventListener = () => undefined;
    cleanups.push(() => {
      delete g.addEventListener;
      delete g.removeEventListener;
    });
    const name = unique();
    const unloadStorage = new MemoryStorage();
    const { outbox } = make({ name, unloadStorage, persistIntervalMs: 60_000 });
    const free = full();
    const held = makeRecords(3);
    outbox.append(held);
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const unwritten = makeRecords(2);
    outbox.append(unwritten);
    listeners.get('pagehide')!();
    // The page died there: its outbox is never closed. The next load finds room.
    free();
    const { outbox: next } = make({ name, unloadStorage });
    await next.persist();
    expect(await drain(next)).toEqual(uuids([...held, ...unwritten]));
  });

  it('counts what is still held at close as unsaved', async () => {
    const { outbox, drops } = make();
    full();
    outbox.append(makeRecords(3));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    await outbox.close();
    expect(drops).toEqual({ unsaved: 3 });
  });
});
