import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxError } from '../errors.js';
import { createIndexedDBOutbox } from '../indexeddb.js';
import { MemoryStorage } from '../localStorage/memoryStorage.test-helpers.js';
import { drain, makeRecords } from '../outbox.contract.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';
import { databaseName } from './schema.js';
import { UnloadSpill } from './unloadSpill.js';

/**
 * The unload spill in Node: what one page saved is taken back by the next IndexedDB outbox of
 * the same name (the save itself, inside a real `pagehide`, runs in Chromium:
 * `test/browser/unload.browser.test.ts`).
 */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let next = 0;
function uniqueName(): string {
  return `spill-${process.pid}-${next++}`;
}

function open(name: string, storage: MemoryStorage | null) {
  const outbox = createIndexedDBOutbox({ name, locks: null, unloadStorage: storage });
  cleanups.push(async () => {
    await outbox.close();
    await deleteOutboxDatabase(name);
  });
  return outbox;
}

const prefix = (name: string): string => `${databaseName(name)}:unwritten:`;
const spillKeys = (storage: MemoryStorage, name: string): string[] =>
  storage.keys().filter((k) => k.startsWith(prefix(name)));

describe('unload spill', () => {
  it('hands what pages saved to the next outbox of that name, which writes it and then removes the keys', async () => {
    const storage = new MemoryStorage();
    const name = uniqueName();
    const first = makeRecords(3);
    const second = makeRecords(2);
    // Two pages went away with records not written; another name's spill is left alone.
    new UnloadSpill(storage, prefix(name)).save(first);
    new UnloadSpill(storage, prefix(name)).save(second);
    new UnloadSpill(storage, prefix('other')).save(makeRecords(1));
    const outbox = open(name, storage);
    await outbox.persist();
    expect(spillKeys(storage, name)).toEqual([]);
    expect(spillKeys(storage, 'other')).toHaveLength(1);
    expect(new Set(await drain(outbox))).toEqual(new Set([...first, ...second].map((r) => r.uuid)));
  });

  it('replaces its own save, and clear removes it', () => {
    const storage = new MemoryStorage();
    const spill = new UnloadSpill(storage, prefix('own'));
    spill.save(makeRecords(4));
    const last = makeRecords(1);
    spill.save(last);
    expect(spill.load().records.map((r) => r.uuid)).toEqual([last[0]!.uuid]);
    spill.clear();
    expect(spill.load()).toEqual({ records: [], keys: [] });
  });

  it('skips damaged saved records and keys, keeps the others, and removes every key it read', async () => {
    const storage = new MemoryStorage();
    const name = uniqueName();
    const good = makeRecords(2);
    storage.setItem(
      `${prefix(name)}a`,
      JSON.stringify([[good[0]!.uuid, good[0]!.json, good[0]!.timestampMs], [7]]),
    );
    storage.setItem(`${prefix(name)}b`, 'not json');
    storage.setItem(
      `${prefix(name)}c`,
      JSON.stringify([[good[1]!.uuid, good[1]!.json, good[1]!.timestampMs]]),
    );
    const outbox = open(name, storage);
    await outbox.persist();
    expect(await drain(outbox)).toEqual(good.map((r) => r.uuid));
    expect(spillKeys(storage, name)).toEqual([]);
  });

  it('saves nothing when the storage refuses (full), and never throws', () => {
    const storage = new MemoryStorage(10);
    const spill = new UnloadSpill(storage, prefix('full'));
    expect(spill.save(makeRecords(5, 200))).toBe(false);
    expect(new UnloadSpill(null, prefix('none')).save(makeRecords(1))).toBe(false);
  });

  it('rejects an unloadStorage that is not a Storage, naming the option', () => {
    expect(() => createIndexedDBOutbox({ name: uniqueName(), unloadStorage: {} as never })).toThrow(
      OutboxError,
    );
    expect(() => createIndexedDBOutbox({ name: uniqueName(), unloadStorage: {} as never })).toThrow(
      /unloadStorage/,
    );
  });
});
