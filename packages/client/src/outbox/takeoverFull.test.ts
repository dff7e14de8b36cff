import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { drain, fillOrigin, recordingLogger, restoreBrowserGlobals } from './browserOutbox.test-helpers.js';
import { createBrowserOutbox } from './browser.js';
import { LocalStorageOutbox } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox, OutboxDrop } from './outbox.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB as IDBFactory;
let n = 0;
const unique = (): string => `takeover-full-${process.pid}-${n++}`;

/**
 * A localStorage fallback's leftovers taken over while IndexedDB is over its quota: the records
 * appended to the IndexedDB outbox are held in memory (and delivered from there), `persist()`
 * rejects, and they stay in localStorage for the next attempt. On the code before, each attempt
 * (2 s doubling to a minute, for as long as the origin stays full) appended them again: every
 * attempt sent them once more and filled the memory tier with copies.
 */
describe('taking over a localStorage fallback’s records while IndexedDB is over its quota', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(() => restoreBrowserGlobals(cleanups, realIndexedDB, () => vi.useRealTimers()));

  it('delivers each record once, across the takeover’s retries', async () => {
    const name = unique();
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const fallback = new LocalStorageOutbox({ name, storage, storageEvents: null });
    const records = makeRecords(5);
    fallback.append(records);
    await fallback.persist();
    await fallback.close();

    cleanups.push(fillOrigin());
    const logger = recordingLogger();
    const load: Outbox = createBrowserOutbox({ name, logger });
    cleanups.push(() => load.close());
    const drops: Record<string, number> = {};
    load.onDrop((d: OutboxDrop) => (drops[d.reason] = (drops[d.reason] ?? 0) + d.count));
    const sent = await drain(load);
    // The takeover tries again after 2 s.
    await new Promise((r) => setTimeout(r, 2_300));
    sent.push(...(await drain(load)));
    await new Promise((r) => setTimeout(r, 100));
    sent.push(...(await drain(load)));
    expect(sent).toEqual(records.map((r) => r.uuid));
    expect(drops).toEqual({});
    // Delivered from memory: the next attempt finds them persisted and removes them from localStorage.
    expect(storage.keys().filter((k) => k.startsWith(`homing-outbox:${name}:c:`))).toEqual([]);
  });
});
