import { afterEach, describe, expect, it } from 'vitest';
import { createLocalStorageOutbox } from './localStorage.js';
import type { LocalStorageOutbox, StorageEventSource } from './localStorage.js';
import { CHUNK_RESCAN_MS } from './localStorage/ChunkStore.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';

type Listener = (event: { key: string | null; storageArea?: unknown }) => void;

/** A page's `storage` events, dispatched by hand (a browser sends them for other tabs' writes). */
class FakePage implements StorageEventSource {
  readonly listeners = new Set<Listener>();
  addEventListener(_type: 'storage', listener: Listener): void {
    this.listeners.add(listener);
  }
  removeEventListener(_type: 'storage', listener: Listener): void {
    this.listeners.delete(listener);
  }
  dispatch(key: string | null, storageArea?: unknown): void {
    for (const l of this.listeners) l({ key, storageArea });
  }
}

/** Counts reads of chunk keys. */
class CountingStorage extends MemoryStorage {
  chunkReads = 0;
  override getItem(key: string): string | null {
    if (key.includes(':c:')) this.chunkReads++;
    return super.getItem(key);
  }
}

describe('LocalStorageOutbox with storage events', () => {
  const open: LocalStorageOutbox[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it('reads the chunks again only after another tab changed one, or a second later', async () => {
    const storage = new CountingStorage();
    const page = new FakePage();
    let now = 1_000_000;
    const a = createLocalStorageOutbox({
      storage,
      storageEvents: page,
      locks: null,
      now: () => now,
      flushOnHide: false,
    });
    const other = createLocalStorageOutbox({
      storage,
      storageEvents: null,
      locks: null,
      now: () => now,
      flushOnHide: false,
    });
    open.push(a, other);
    for (let i = 0; i < 40; i++) {
      a.append(makeRecords(1));
      await a.persist();
    }
    expect((await a.size()).events).toBe(40);
    // Nothing changed behind A's back: its next operations read no chunk key.
    storage.chunkReads = 0;
    for (let i = 0; i < 5; i++) expect((await a.size()).events).toBe(40);
    a.append(makeRecords(1));
    await a.persist();
    expect(storage.chunkReads).toBe(0);

    // Another tab adds records: A sees them once the browser tells it...
    other.append(makeRecords(3));
    await other.persist();
    expect((await a.size()).events).toBe(41);
    page.dispatch('homing-outbox:default:c:999:x', storage);
    expect((await a.size()).events).toBe(44);
    // ...or, without a word (another outbox of the same page), at the next read a second later.
    other.append(makeRecords(2));
    await other.persist();
    expect((await a.size()).events).toBe(44);
    now += CHUNK_RESCAN_MS;
    expect((await a.size()).events).toBe(46);
    // Events about other keys, or another storage, change nothing; a clear() of the storage does.
    storage.chunkReads = 0;
    page.dispatch('homing-outbox:default:s:consent', storage);
    page.dispatch('homing-outbox:default:c:1:x', new MemoryStorage());
    await a.size();
    expect(storage.chunkReads).toBe(0);
    page.dispatch(null, storage);
    await a.size();
    expect(storage.chunkReads).toBeGreaterThan(0);
    // Every record is claimed and delivered once.
    const seen = new Set<string>();
    for (let batch = await a.claim(100, Infinity); batch !== null; batch = await a.claim(100, Infinity)) {
      for (const r of batch.records) seen.add(r.uuid);
      await a.ack(batch);
    }
    expect(seen.size).toBe(46);
    await a.close();
    expect(page.listeners.size).toBe(0);
  });
});
