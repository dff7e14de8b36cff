import type { DeadLetter, OutboxLimits, OutboxRecord } from '../outbox.js';
import { utf8Length } from '../records.js';
import type { DeadLetterTotals, DeadLettersTx } from './deadLetterTotals.js';
import {
  deadLetterBytes,
  deadLetterJsonBytes,
  forgetDeadLetterTotals,
  readDeadLetterTotals,
  saveDeadLetterTotals,
} from './deadLetterTotals.js';
import { abortQuietly } from './groupWrite.js';
import type { Found, RecordsTx } from './recordStore.js';
import { evictOldest, quiet, readTotals, writeTotals } from './recordStore.js';
import type { OutboxDatabase, StoredDeadLetter, Totals } from './schema.js';
import { WRITE, decodeDeadLetter, isQuotaError } from './schema.js';

export interface ReplayContext {
  /** The time of the replay: the queue time the records get. */
  readonly nowMs: number;
  readonly limits: OutboxLimits;
  /** Keys of records claimed now: never evicted to make room. */
  readonly claimed: ReadonlySet<number>;
}

/** The oldest dead letters discarded to stay within the caps, and the bytes of their event JSON. */
export interface Discarded {
  readonly discarded: number;
  readonly bytes: number;
}

const NONE: Discarded = { discarded: 0, bytes: 0 };

/** How many of the oldest dead letters one `getAll` reads at least while discarding them. */
const TRIM_PAGE = 32;

export interface ReplayOutcome {
  /** Dead letters queued again (and removed from the store). */
  readonly queued: number;
  /** Oldest pending records dropped to make room (drop-oldest). */
  readonly overflow: number;
  /** Damaged records met on the way. */
  readonly corrupt: number;
}

/**
 * The dead-letter store of the IndexedDB outbox: oldest first, at most `maxDeadLetters` and
 * `maxDeadLetterBytes` of event JSON and reasons (the oldest discarded past either, counted by
 * the caller as overflow). Every transaction that changes it keeps the total of its bytes in
 * `meta` (`deadLetterTotals.ts`), so the caps hold for all tabs together.
 */
export class DeadLetterStore {
  constructor(
    private readonly database: () => Promise<OutboxDatabase>,
    private readonly caps: Pick<OutboxLimits, 'maxDeadLetters' | 'maxDeadLetterBytes'>,
  ) {}

  /**
   * Adds inside the caller's transaction (the records leave the queue in the same one), but those
   * whose uuid is here already: a tab frozen past its lease dead-letters the batch that the tab
   * which took the lease over claimed again and dead-lettered already, and each was kept, listed
   * and replayed twice. Read whole for the uuids, as `adopt` does (at most `maxDeadLetterBytes`):
   * a move is rare, a batch the endpoint refused for good. Answers how many were added, and
   * discarded past the caps (the oldest).
   */
  async add(
    tx: DeadLettersTx,
    records: readonly OutboxRecord[],
    reason: string,
    atMs: number,
  ): Promise<{ added: number } & Discarded> {
    const totals = await readDeadLetterTotals(tx);
    const store = tx.objectStore('deadLetters');
    const here = new Set((await store.getAll()).map((v) => decodeDeadLetter(v)?.record.uuid));
    let added = 0;
    for (const r of records) {
      if (here.has(r.uuid)) continue;
      here.add(r.uuid);
      added++;
      const value: StoredDeadLetter = { u: r.uuid, j: r.json, t: r.timestampMs, reason, at: atMs };
      quiet(store.add(value));
      totals.count++;
      totals.bytes += deadLetterBytes(value);
    }
    if (added === 0) return { added, ...NONE };
    const discarded = await this.trim(tx, totals);
    await saveDeadLetterTotals(tx, totals.bytes);
    return { added, ...discarded };
  }

  /**
   * Adds dead letters another storage kept, with their own reason and time, but those whose uuid
   * is here already (in the same transaction, so a move cut short and done again, or done by two
   * tabs at once, adds each once). Answers how many were added, and discarded past the caps (the
   * oldest).
   */
  async adopt(letters: readonly DeadLetter[]): Promise<{ added: number } & Discarded> {
    if (letters.length === 0) return { added: 0, ...NONE };
    const db = await this.database();
    const tx = db.transaction(['deadLetters', 'meta'], 'readwrite', WRITE);
    const store = tx.objectStore('deadLetters');
    try {
      // Read whole for the uuids anyway: the total is counted from them, not read.
      const values = await store.getAll();
      const here = new Set(values.map((v) => decodeDeadLetter(v)?.record.uuid));
      const totals: DeadLetterTotals = { count: values.length, bytes: 0 };
      for (const v of values) totals.bytes += deadLetterBytes(v);
      let added = 0;
      for (const dl of letters) {
        if (here.has(dl.record.uuid)) continue;
        here.add(dl.record.uuid);
        const { uuid, json, timestampMs } = dl.record;
        const value: StoredDeadLetter = {
          u: uuid,
          j: json,
          t: timestampMs,
          reason: dl.reason,
          at: dl.deadLetteredAtMs,
        };
        quiet(store.add(value));
        totals.count++;
        totals.bytes += deadLetterBytes(value);
        added++;
      }
      if (added === 0) {
        await tx.done;
        return { added, ...NONE };
      }
      const discarded = await this.trim(tx, totals);
      await saveDeadLetterTotals(tx, totals.bytes);
      await tx.done;
      return { added, ...discarded };
    } catch (error) {
      abortQuietly(tx);
      throw error;
    }
  }

  /**
   * Discards the oldest while over either cap, taking them out of `totals`. One larger than
   * `maxDeadLetterBytes` by itself goes too, once all older ones have.
   */
  private async trim(tx: DeadLettersTx, totals: DeadLetterTotals): Promise<Discarded> {
    const { maxDeadLetters, maxDeadLetterBytes } = this.caps;
    const over = (): boolean => totals.count > maxDeadLetters || totals.bytes > maxDeadLetterBytes;
    if (!over()) return NONE;
    const store = tx.objectStore('deadLetters');
    let discarded = 0;
    let bytes = 0;
    let range: IDBKeyRange | null = null;
    for (;;) {
      // Past the count, exactly the excess; past the bytes alone, a few at a time.
      const page = Math.max(TRIM_PAGE, totals.count - maxDeadLetters);
      const [keys, values] = await Promise.all([store.getAllKeys(range, page), store.getAll(range, page)]);
      for (let i = 0; i < keys.length; i++) {
        quiet(store.delete(keys[i]!));
        totals.count--;
        totals.bytes -= deadLetterBytes(values[i]);
        discarded++;
        bytes += deadLetterJsonBytes(values[i]);
        if (!over()) return { discarded, bytes };
      }
      if (keys.length < page) return { discarded, bytes };
      range = IDBKeyRange.lowerBound(keys[keys.length - 1]!, true);
    }
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
      // Read whole anyway: the total is counted from them, not read.
      let deadBytes = 0;
      for (const v of values) deadBytes += deadLetterBytes(v);
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
        deadBytes -= deadLetterBytes(values[i]);
        totals.events++;
        totals.bytes += bytes;
        queued++;
      }
      let overflow = 0;
      if (queued > 0) {
        const over = (t: Totals): boolean => t.events > limits.maxEvents || t.bytes > limits.maxBytes;
        overflow = await evictOldest(rtx, totals, ctx.claimed, over, found);
        writeTotals(rtx, totals);
        await saveDeadLetterTotals(tx as unknown as DeadLettersTx, deadBytes);
      }
      await tx.done;
      return { queued, overflow, corrupt: found.corrupt };
    } catch (error) {
      abortQuietly(tx);
      throw error;
    }
  }

  /**
   * Removes and answers the dead letters with these uuids (all when undefined). Over the origin's
   * quota, done again saving no total (counted again later): purging must free room, not fail.
   */
  async take(uuids: readonly string[] | undefined): Promise<DeadLetter[]> {
    const wanted = uuids === undefined ? null : new Set(Array.isArray(uuids) ? uuids : []);
    if (wanted !== null && wanted.size === 0) return [];
    const db = await this.database();
    for (let attempt = 0; ; attempt++) {
      const tx = db.transaction(['deadLetters', 'meta'], 'readwrite', WRITE);
      const done = tx.done;
      done.catch(() => undefined);
      try {
        const taken = await this.takeIn(tx, wanted, attempt === 0);
        await done;
        return taken;
      } catch (error) {
        abortQuietly(tx);
        if (attempt === 0 && isQuotaError(error)) continue;
        throw error;
      }
    }
  }

  private async takeIn(
    tx: DeadLettersTx,
    wanted: ReadonlySet<string> | null,
    saveTotal: boolean,
  ): Promise<DeadLetter[]> {
    const store = tx.objectStore('deadLetters');
    const [keys, values] = await Promise.all([store.getAllKeys(), store.getAll()]);
    // Read whole anyway: the total is counted from them, not read.
    let bytes = 0;
    for (const v of values) bytes += deadLetterBytes(v);
    const taken: DeadLetter[] = [];
    let deleted = 0;
    for (let i = 0; i < keys.length; i++) {
      const dl = decodeDeadLetter(values[i]);
      if (dl === null) {
        // Damaged: it could never be replayed; purging everything removes it too.
        if (wanted !== null) continue;
      } else {
        if (wanted !== null && !wanted.has(dl.record.uuid)) continue;
        taken.push({ record: dl.record, reason: dl.reason, deadLetteredAtMs: dl.deadLetteredAtMs });
      }
      quiet(store.delete(keys[i]!));
      bytes -= deadLetterBytes(values[i]);
      deleted++;
    }
    if (deleted === 0) return taken;
    if (saveTotal) await saveDeadLetterTotals(tx, bytes);
    else forgetDeadLetterTotals(tx);
    return taken;
  }
}
