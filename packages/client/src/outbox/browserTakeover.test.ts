import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { blockedOpens, drain, recordingLogger, restoreBrowserGlobals } from './browserOutbox.test-helpers.js';
import { createBrowserOutbox } from './browser.js';
import { OPEN_TIMEOUT_MS } from './indexeddb/schema.js';
import { LocalStorageOutbox } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxDrop } from './outbox.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB as IDBFactory;

let n = 0;
const unique = (): string => `takeover-${process.pid}-${n++}`;

const chunkKeys = (storage: MemoryStorage, name: string): string[] =>
  storage.keys().filter((k) => k.startsWith(`homing-outbox:${name}:c:`));

describe('createBrowserOutbox takes over what a localStorage fallback left', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(() => restoreBrowserGlobals(cleanups, realIndexedDB, () => vi.useRealTimers()));
  function make(options: Parameters<typeof createBrowserOutbox>[0]): Outbox {
    const o = createBrowserOutbox(options);
    cleanups.push(() => o.close());
    return o;
  }

  it('a load whose open was only slow falls back; the next load, where IndexedDB opens, sends its records once', async () => {
    const name = unique();
    const storage = new MemoryStorage();
    g.localStorage = storage;
    // Load 1: the open does not answer within OPEN_TIMEOUT_MS.
    const { factory, unblock } = await blockedOpens(realIndexedDB);
    cleanups.push(unblock);
    g.indexedDB = factory;
    const logger1 = recordingLogger();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const load1 = createBrowserOutbox({ name, logger: logger1 });
    const records = makeRecords(5);
    load1.append(records);
    await vi.advanceTimersByTimeAsync(OPEN_TIMEOUT_MS);
    vi.useRealTimers();
    await load1.persist();
    expect((await load1.size()).events).toBe(5);
    await load1.close();
    unblock();
    expect(chunkKeys(storage, name).length).toBeGreaterThan(0);
    // The records went to localStorage: no error says they could not be written.
    expect(logger1.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect(logger1.lines.some((l) => l.includes('falling back to localStorage'))).toBe(true);

    // Load 2: IndexedDB opens at once.
    g.indexedDB = realIndexedDB;
    const logger2 = recordingLogger();
    const load2 = make({ name, logger: logger2 });
    expect((await load2.size()).events).toBe(5);
    expect(await drain(load2)).toEqual(records.map((r) => r.uuid));
    expect(chunkKeys(storage, name)).toEqual([]);
    await load2.close();
    // Load 3: nothing left anywhere.
    const load3 = make({ name });
    expect(await drain(load3)).toEqual([]);
    expect(logger2.lines.filter((l) => !l.startsWith('debug'))).toEqual([]);
  });

  it('moves the dead letters too, with their reason and time, each once even if a move was cut short', async () => {
    const name = unique();
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const fallback = new LocalStorageOutbox({ name, storage, storageEvents: null });
    const [dead, other] = [makeRecords(1), makeRecords(2)];
    fallback.append([...dead, ...other]);
    const batch = (await fallback.claim(1, Infinity))!;
    await fallback.deadLetter(batch.records, 'HTTP 400');
    const [letter] = await fallback.listDeadLetters();
    await fallback.close();

    // An earlier takeover wrote the dead letter to IndexedDB and was cut short before removing it.
    const earlier = make({ name });
    await earlier.size();
    // (It took the records then; put the dead letter back as if its removal never happened.)
    storage.setItem(
      `homing-outbox:${name}:dl`,
      JSON.stringify([
        [
          letter!.record.uuid,
          letter!.record.json,
          letter!.record.timestampMs,
          'HTTP 400',
          letter!.deadLetteredAtMs,
        ],
      ]),
    );
    await earlier.close();

    const later = make({ name });
    const letters = await later.listDeadLetters();
    expect(letters).toEqual([letter]);
    expect(storage.getItem(`homing-outbox:${name}:dl`)).toBeNull();
    expect(await drain(later)).toEqual(other.map((r) => r.uuid));
  });

  it('two tabs opening at once: each record is taken over by one of them only', async () => {
    const name = unique();
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const fallback = new LocalStorageOutbox({ name, storage, storageEvents: null });
    const records = makeRecords(40);
    fallback.append(records);
    await fallback.close();
    const a = make({ name });
    const b = make({ name });
    const [fromA, fromB] = [await drain(a), await drain(b)];
    expect([...fromA, ...fromB].sort()).toEqual(records.map((r) => r.uuid).sort());
    expect(chunkKeys(storage, name)).toEqual([]);
  });

  it('records another tab kept from the takeover are dropped, not moved, after a clear', async () => {
    const name = unique();
    const storage = new MemoryStorage();
    g.localStorage = storage;
    // A live fallback tab holds the delivery lock (a batch in flight) when this tab opens.
    const other = new LocalStorageOutbox({ name, storage, storageEvents: null });
    const records = makeRecords(3);
    other.append(records);
    const inFlight = (await other.claim(1, Infinity))!;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const drops: OutboxDrop[] = [];
    const outbox = make({ name });
    outbox.onDrop((d) => drops.push(d));
    expect((await outbox.size()).events).toBe(0);
    // Consent withdrawn here: what localStorage still holds was tracked before.
    expect(await outbox.clear()).toBe(0);
    await other.release(inFlight);
    await other.close();
    // The takeover tries again once the lock is free, and drops them.
    await vi.advanceTimersByTimeAsync(60_000);
    vi.useRealTimers();
    expect(chunkKeys(storage, name)).toEqual([]);
    expect(drops.filter((d) => d.reason === 'consent').reduce((s, d) => s + d.count, 0)).toBe(3);
    expect(await drain(outbox)).toEqual([]);
  });
});
