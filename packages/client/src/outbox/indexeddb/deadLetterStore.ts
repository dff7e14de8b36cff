import type { IDBPObjectStore, StoreNames } from 'idb';
import type { DeadLetter, OutboxRecord } from '../outbox.js';
import { quiet } from './recordStore.js';
import type { OutboxDB, OutboxDatabase } from './schema.js';
import { WRITE, decodeDeadLetter } from './schema.js';

/** The dead-letter store of the IndexedDB outbox: oldest first, at most `maxDeadLetters`. */
export class DeadLetterStore {
  constructor(
    private readonly database: () => Promise<OutboxDatabase>,
    private readonly maxDeadLetters: number,
  ) {}

  /** Adds inside the caller's transaction (the records leave the queue in the same one). */
  async add<TxStores extends ArrayLike<StoreNames<OutboxDB>>>(
    store: IDBPObjectStore<OutboxDB, TxStores, 'deadLetters', 'readwrite'>,
    records: readonly OutboxRecord[],
    reason: string,
    atMs: number,
  ): Promise<void> {
    for (const r of records) {
      quiet(store.add({ u: r.uuid, j: r.json, t: r.timestampMs, reason, at: atMs }));
    }
    const excess = (await store.count()) - this.maxDeadLetters;
    if (excess <= 0) return;
    const oldest = await store.getAllKeys(null, excess);
    for (const key of oldest) quiet(store.delete(key));
  }

  async list(max: number): Promise<{ letters: DeadLetter[]; corrupt: number }> {
    if (max <= 0) return { letters: [], corrupt: 0 };
    const db = await this.database();
    const values = await db.getAll('deadLetters', null, Number.isFinite(max) ? max : undefined);
    const letters: DeadLetter[] = [];
    let corrupt = 0;
    for (const value of values) {
      const dl = decodeDeadLetter(value);
      if (dl === null) corrupt++;
      else letters.push({ record: dl.record, reason: dl.reason, deadLetteredAtMs: dl.deadLetteredAtMs });
    }
    return { letters, corrupt };
  }

  /** Removes and answers the dead letters with these uuids (all when undefined). */
  async take(uuids: readonly string[] | undefined): Promise<DeadLetter[]> {
    const wanted = uuids === undefined ? null : new Set(Array.isArray(uuids) ? uuids : []);
    if (wanted !== null && wanted.size === 0) return [];
    const db = await this.database();
    const tx = db.transaction('deadLetters', 'readwrite', WRITE);
    const store = tx.objectStore('deadLetters');
    const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()]);
    const taken: DeadLetter[] = [];
    for (let i = 0; i < keys.length; i++) {
      const dl = decodeDeadLetter(values[i]);
      if (dl === null) {
        // Damaged: it could never be replayed; purging everything removes it too.
        if (wanted === null) quiet(store.delete(keys[i]!));
        continue;
      }
      if (wanted !== null && !wanted.has(dl.record.uuid)) continue;
      quiet(store.delete(keys[i]!));
      taken.push({ record: dl.record, reason: dl.reason, deadLetteredAtMs: dl.deadLetteredAtMs });
    }
    await tx.done;
    return taken;
  }
}
