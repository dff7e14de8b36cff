import type { IDBPObjectStore, StoreNames } from 'idb';
import type { DeadLetter, OutboxLimits, OutboxRecord } from '../outbox.js';
import { utf8Length } from '../records.js';
import { abortQuietly } from './groupWrite.js';
import type { Found, RecordsTx } from './recordStore.js';
import { evictOldest, quiet, readTotals, writeTotals } from './recordStore.js';
import type { OutboxDB, OutboxDatabase, Totals } from './schema.js';
import { WRITE, decodeDeadLetter } from './schema.js';

export interface ReplayContext {
  /** The time of the replay: the queue time the records get. */
  readonly nowMs: number;
  readonly limits: OutboxLimits;
  /** Keys of records claimed now: never evicted to make room. */
  readonly claimed: ReadonlySet<number>;
}

export interface ReplayOutcome {
  /** Dead letters queued again (and removed from the store). */
  readonly queued: number;
  /** Oldest pending records dropped to make room (drop-oldest). */
  readonly overflow: number;
  /** Damaged records met on the way. */
  readonly corrupt: number;
}

/**
 * The dead-letter store of the IndexedDB outbox: oldest first, at most `maxDeadLetters` (the
 * oldest discarded past that, counted by the caller as overflow).
 */
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
  ): Promise<number> {
    for (const r of records) {
      quiet(store.add({ u: r.uuid, j: r.json, t: r.timestampMs, reason, at: atMs }));
    }
    return this.trim(store);
  }

  /**
   * Adds dead letters another storage kept, with their own reason and time, but those whose uuid
   * is here already (in the same transaction, so a move cut short and done again, or done by two
   * tabs at once, adds each once). Answers how many were added, and discarded past
   * `maxDeadLetters` (the oldest).
   */
  async adopt(letters: readonly DeadLetter[]): Promise<{ added: number; discarded: number }> {
    if (letters.length === 0) return { added: 0, discarded: 0 };
    const db = await this.database();
    const tx = db.transaction('deadLetters', 'readwrite', WRITE);
    const store = tx.objectStore('deadLetters');
    try {
      const here = new Set((await store.getAll()).map((v) => decodeDeadLetter(v)?.record.uuid));
      let added = 0;
      for (const dl of letters) {
        if (here.has(dl.record.uuid)) continue;
        here.add(dl.record.uuid);
        const { uuid, json, timestampMs } = dl.record;
        quiet(store.add({ u: uuid, j: json, t: timestampMs, reason: dl.reason, at: dl.deadLetteredAtMs }));
        added++;
      }
      const discarded = added > 0 ? await this.trim(store) : 0;
      await tx.done;
      return { added, discarded };
    } catch (error) {
      abortQuietly(tx);
      throw error;
    }
  }

  /** Discards the oldest past `maxDeadLetters`; answers how many. */
  private async trim<TxStores extends ArrayLike<StoreNames<OutboxDB>>>(
    store: IDBPObjectStore<OutboxDB, TxStores, 'deadLetters', 'readwrite'>,
  ): Promise<number> {
    const excess = (await store.count()) - this.maxDeadLetters;
    if (excess <= 0) return 0;
    const oldest = await store.getAllKeys(null, excess);
    for (const key of oldest) quiet(store.delete(key));
    return oldest.length;
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

  /**
   * Queues the dead letters with these uuids (all when undefined) again, in one transaction with
   * their removal: stamped with the time of the replay, so retention counts from then and does
   * not drop an old event the moment it is replayed (its JSON keeps its own timestamp). Only the
   * dead letters the queue takes leave the store: not one over `maxBytes`, nor, under
   * drop-newest, one there is no room for. Under drop-oldest the oldest unclaimed records make
   * room, as for an append.
   */
  async replay(uuids: readonly string[] | undefined, ctx: ReplayContext): Promise<ReplayOutcome> {
    const wanted = uuids === undefined ? null : new Set(Array.isArray(uuids) ? uuids : []);
    if (wanted !== null && wanted.size === 0) return { queued: 0, overflow: 0, corrupt: 0 };
    const { nowMs, limits } = ctx;
    const db = await this.database();
    const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readwrite', WRITE);
    const rtx = tx as unknown as RecordsTx;
    try {
      const found: Found = { corrupt: 0 };
      const totals = await readTotals(rtx, found);
      const letters = tx.objectStore('deadLetters');
      const records = tx.objectStore('records');
      const [keys, values] = await Promise.all([letters.getAllKeys(), letters.getAll()]);
      let queued = 0;
      for (let i = 0; i < keys.length; i++) {
        const dl = decodeDeadLetter(values[i]);
        if (dl === null || (wanted !== null && !wanted.has(dl.record.uuid))) continue;
        const bytes = utf8Length(dl.record.json);
        if (bytes > limits.maxBytes) continue;
        const full = totals.events + 1 > limits.maxEvents || totals.bytes + bytes > limits.maxBytes;
        if (full && limits.overflow === 'drop-newest') continue;
        quiet(records.add({ u: dl.record.uuid, j: dl.record.json, t: nowMs, b: bytes }));
        quiet(letters.delete(keys[i]!));
        totals.events++;
        totals.bytes += bytes;
        queued++;
      }
      let overflow = 0;
      if (queued > 0) {
        const over = (t: Totals): boolean => t.events > limits.maxEvents || t.bytes > limits.maxBytes;
        overflow = await evictOldest(rtx, totals, ctx.claimed, over, found);
        writeTotals(rtx, totals);
      }
      await tx.done;
      return { queued, overflow, corrupt: found.corrupt };
    } catch (error) {
      abortQuietly(tx);
      throw error;
    }
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
