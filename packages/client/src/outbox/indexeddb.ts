import { OutboxClosedError, OutboxIoError, OutboxOptionError } from './errors.js';
import type { DeliveryLock } from './indexeddb/deliveryLock.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import { DeadLetterStore } from './indexeddb/deadLetterStore.js';
import type { BrowserOutboxCommonOptions, ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { onPageHide, resolveBrowserOutboxOptions } from './indexeddb/options.js';
import type { Found, RecordsTx, StoredEntry } from './indexeddb/recordStore.js';
import {
  corruptBytes,
  deleteExisting,
  evictOldest,
  quiet,
  readTotals,
  walk,
  writeTotals,
} from './indexeddb/recordStore.js';
import type { OutboxDatabase, Totals } from './indexeddb/schema.js';
import { databaseName, isQuotaError, LEASE_KEY, openOutboxDatabase } from './indexeddb/schema.js';
import { checkClaimLimits, claimedMatcher } from './memory.js';
import type {
  DeadLetter,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from './outbox.js';
import { DropListeners, normalizeRecord, utf8Length } from './records.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

export interface IndexedDBOutboxOptions extends BrowserOutboxCommonOptions {
  /** The IndexedDB factory; default `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
}

interface Pending {
  readonly record: OutboxRecord;
  readonly bytes: number;
}

interface Claimed {
  readonly seq: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  /** The `clear()` generation it was claimed in; a release after a clear drops it. */
  readonly epoch: number;
}

/** How often a write that hit the quota evicts and tries again before the group itself is dropped. */
const QUOTA_ATTEMPTS = 4;

/**
 * The browser's durable outbox: one IndexedDB database per outbox name, shared by every tab of
 * the origin (layout in `indexeddb/schema.ts`).
 *
 * - `append` is synchronous: records wait in memory and are written in one transaction per
 *   group, within `persistIntervalMs` (at once when `flushEvents` wait); `persist()` forces it,
 *   and so does the page being hidden or unloaded.
 * - Limits are enforced in the write transaction against totals kept in the database, so they
 *   hold for all tabs together; overflow, retention, quota and damaged records are counted.
 * - Only the tab holding the delivery lock (`indexeddb/deliveryLock.ts`) claims. Claims live in
 *   that tab's memory: if it closes or crashes, the lock is freed and its claimed records are
 *   simply pending again for the next holder.
 */
export class IndexedDBOutbox implements Outbox {
  /** Resolves once the database is open; rejects (OutboxIoError) when it cannot be opened. */
  readonly opened: Promise<void>;
  private readonly options: ResolvedBrowserOutboxOptions;
  private readonly limits: OutboxLimits;
  private readonly factory: IDBFactory;
  private db: OutboxDatabase | undefined;
  private openError: unknown;
  private readonly lock: DeliveryLock;
  private readonly deadLetters: DeadLetterStore;
  private readonly drops = new DropListeners();
  private buffer: Pending[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly claimed = new Map<OutboxBatch, Claimed[]>();
  private readonly claimedSeqs = new Set<number>();
  private epoch = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly offHide: () => void;

  constructor(options: IndexedDBOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits = this.options.limits;
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    if (factory === undefined || factory === null || typeof factory.open !== 'function') {
      throw new OutboxOptionError('indexedDB', 'IndexedDB is not available here (pass an IDBFactory)');
    }
    this.factory = factory;
    this.opened = this.open();
    // Rejections are reported by every operation that needs the database; keep this one quiet.
    this.opened.catch(() => undefined);
    this.deadLetters = new DeadLetterStore(() => this.database('dead letters'), this.limits.maxDeadLetters);
    const { locks, name, leaseMs, now } = this.options;
    this.lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${databaseName(name)}:delivery`)
        : new LeaseDeliveryLock({
            owner: randomOwnerId(),
            leaseMs,
            now,
            store: {
              take: (owner, nowMs, expiresAtMs) => this.takeLease(owner, nowMs, expiresAtMs),
              drop: (owner) => this.dropLease(owner),
            },
          });
    this.offHide = this.options.flushOnHide ? onPageHide(() => void this.flush()) : () => {};
  }

  append(records: readonly OutboxRecord[]): void {
    if (!Array.isArray(records) || records.length === 0) return;
    const nowMs = this.options.now();
    let invalid = 0;
    let tooLarge = 0;
    let expired = 0;
    for (const value of records) {
      const record = normalizeRecord(value, nowMs);
      if (record === null) {
        invalid++;
        continue;
      }
      if (this.isExpired(record.timestampMs, nowMs)) {
        expired++;
        continue;
      }
      const bytes = utf8Length(record.json);
      if (bytes > this.limits.maxBytes) {
        tooLarge++;
        continue;
      }
      this.buffer.push({ record, bytes });
    }
    this.drops.emit('corrupt', invalid);
    this.drops.emit('too-large', tooLarge);
    this.drops.emit('retention', expired);
    if (this.buffer.length === 0) return;
    if (this.closed) {
      // Late records still reach the database, on a connection of their own.
      void this.flush();
      return;
    }
    this.schedule();
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    await this.flush();
    if (!(await this.lock.acquire()) || this.closed) return null;
    const db = await this.database('claim');
    const nowMs = this.options.now();
    const epoch = this.epoch;
    const taken: Claimed[] = [];
    let bytes = 0;
    let expired = 0;
    const found: Found = { corrupt: 0 };
    const tx = db.transaction(['records', 'meta'], 'readwrite');
    try {
      const store = tx.objectStore('records');
      let totals: Totals | undefined;
      const removed: { bytes: number }[] = [];
      await walk(
        store,
        null,
        found,
        (entry) => {
          if (this.claimedSeqs.has(entry.seq)) return true;
          if (this.isExpired(entry.timestampMs, nowMs)) {
            quiet(store.delete(entry.seq));
            removed.push(entry);
            expired++;
            return true;
          }
          if (taken.length > 0 && bytes + entry.bytes > maxBytes) return false;
          // Marked at once: a claim running right after this transaction must skip them.
          this.claimedSeqs.add(entry.seq);
          taken.push({ seq: entry.seq, record: toRecord(entry), bytes: entry.bytes, epoch });
          bytes += entry.bytes;
          return taken.length < maxEvents;
        },
        (_key, value) => removed.push({ bytes: corruptBytes(value) }),
      );
      if (removed.length > 0) {
        totals = await readTotals(tx, found);
        totals.events -= removed.length;
        for (const r of removed) totals.bytes -= r.bytes;
        writeTotals(tx, totals);
      }
      await tx.done;
    } catch (error) {
      for (const c of taken) this.claimedSeqs.delete(c.seq);
      abortQuietly(tx);
      throw new OutboxIoError('claim', { cause: error });
    }
    this.drops.emit('retention', expired);
    this.drops.emit('corrupt', found.corrupt);
    if (taken.length === 0) {
      // Nothing to deliver: let another tab (perhaps a foreground one) take the lock.
      if (this.claimed.size === 0) await this.lock.release();
      return null;
    }
    const batch: OutboxBatch = { records: taken.map((c) => c.record), bytes };
    this.claimed.set(batch, taken);
    return batch;
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const entries = this.settle(batch);
    if (entries === undefined || entries.length === 0) return;
    await this.removeRecords('ack', entries);
  }

  async release(batch: OutboxBatch): Promise<void> {
    const entries = this.settle(batch);
    if (entries === undefined) return;
    // Claimed before consent was withdrawn and not sent: it must not be kept.
    const cleared = entries.filter((e) => e.epoch !== this.epoch);
    if (cleared.length === 0) return;
    await this.removeRecords('release', cleared);
    this.drops.emit('consent', cleared.length);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<void> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return;
    const match = claimedMatcher(records, [...this.claimed.values()].flat());
    const moved: Claimed[] = [];
    for (const [batch, entries] of this.claimed) {
      const keep: Claimed[] = [];
      for (const entry of entries) {
        if (match(entry.record)) {
          moved.push(entry);
          this.claimedSeqs.delete(entry.seq);
        } else {
          keep.push(entry);
        }
      }
      this.claimed.set(batch, keep);
    }
    if (moved.length === 0) return;
    const db = await this.database('deadLetter');
    const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readwrite');
    try {
      const totals = await readTotals(tx as unknown as RecordsTx, { corrupt: 0 });
      await deleteExisting(tx as unknown as RecordsTx, totals, moved);
      writeTotals(tx as unknown as RecordsTx, totals);
      await this.deadLetters.add(
        tx.objectStore('deadLetters'),
        moved.map((m) => m.record),
        String(reason),
        this.options.now(),
      );
      await tx.done;
    } catch (error) {
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    this.drops.emit('dead-lettered', moved.length);
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    const { letters, corrupt } = await this.deadLetters.list(max);
    this.drops.emit('corrupt', corrupt);
    return letters;
  }

  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    const taken = await this.deadLetters.take(uuids);
    this.append(taken.map((dl) => dl.record));
    await this.flush();
    return taken.length;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await this.deadLetters.take(uuids)).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.flush();
    const db = await this.database('size');
    const nowMs = this.options.now();
    const found: Found = { corrupt: 0 };
    let expired = 0;
    let result: OutboxSize;
    const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readwrite');
    try {
      const rtx = tx as unknown as RecordsTx;
      const totals = await readTotals(rtx, found);
      const byTime = tx.objectStore('records').index('t');
      if (this.limits.retentionMs > 0) {
        const cutoff = nowMs - this.limits.retentionMs;
        let cursor = await byTime.openCursor(IDBKeyRange.upperBound(cutoff, true));
        while (cursor !== null) {
          const seq = cursor.primaryKey;
          if (!this.claimedSeqs.has(seq)) {
            const value = cursor.value;
            quiet(cursor.delete());
            totals.events--;
            totals.bytes -= corruptBytes(value);
            expired++;
          }
          cursor = await cursor.continue();
        }
      }
      writeTotals(rtx, totals);
      const oldest = await byTime.openKeyCursor();
      result = {
        events: Math.max(0, totals.events),
        bytes: Math.max(0, totals.bytes),
        oldestTimestampMs: oldest === null ? null : oldest.key,
        deadLetters: await tx.objectStore('deadLetters').count(),
      };
      await tx.done;
    } catch (error) {
      throw new OutboxIoError('size', { cause: error });
    }
    this.drops.emit('retention', expired);
    this.drops.emit('corrupt', found.corrupt);
    return result;
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    await this.flush();
    const db = await this.database('clear');
    const found: Found = { corrupt: 0 };
    let count = 0;
    const tx = db.transaction(['records', 'meta'], 'readwrite');
    try {
      const totals = await readTotals(tx, found);
      const store = tx.objectStore('records');
      if (this.claimedSeqs.size === 0) {
        count = await store.count();
        quiet(store.clear());
        totals.events = 0;
        totals.bytes = 0;
      } else {
        await walk(store, null, found, (entry) => {
          if (this.claimedSeqs.has(entry.seq)) return true;
          quiet(store.delete(entry.seq));
          totals.events--;
          totals.bytes -= entry.bytes;
          count++;
          return true;
        });
      }
      writeTotals(tx, totals);
      await tx.done;
    } catch (error) {
      throw new OutboxIoError('clear', { cause: error });
    }
    this.epoch++;
    this.drops.emit('consent', count);
    return count;
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new OutboxClosedError('getState');
    checkStateKey(key);
    const db = await this.database('getState');
    let json: string | undefined;
    try {
      json = await db.get('state', key);
    } catch (error) {
      throw new OutboxIoError('getState', { cause: error });
    }
    if (typeof json !== 'string') return undefined;
    try {
      return JSON.parse(json) as T;
    } catch (error) {
      // Damaged from outside: as good as unset (the owner of the key writes it again).
      this.options.logger.warn('outbox state value is damaged; treated as unset', { key, error });
      return undefined;
    }
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.closed) throw new OutboxClosedError('setState');
    checkStateKey(key);
    const json = encodeStateValue(key, value);
    const db = await this.database('setState');
    try {
      if (json === undefined) await db.delete('state', key);
      else await db.put('state', json, key);
    } catch (error) {
      throw new OutboxIoError('setState', { cause: error });
    }
  }

  /** Resolves once everything appended before the call is written (acks are written before they resolve). */
  persist(): Promise<void> {
    return this.flush();
  }

  /**
   * Hands over the records appended but not written yet (and forgets them). For a caller that
   * moves to another storage because this database could not be opened.
   */
  takeUnwritten(): OutboxRecord[] {
    return this.buffer.splice(0).map((p) => p.record);
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.offHide();
    try {
      await this.flush();
    } catch (error) {
      this.options.logger.error('could not write the last records at close', { error });
    }
    // Claims are kept in memory only: dropping them makes the records claimable again.
    this.claimed.clear();
    this.claimedSeqs.clear();
    await this.lock.release();
    this.db?.close();
    this.db = undefined;
  }

  private async open(): Promise<void> {
    try {
      this.db = await openOutboxDatabase(this.factory, this.options.name, () => {
        // Another tab deletes or upgrades the database: this connection is gone.
        this.db = undefined;
        this.openError = new Error('the database was closed by another connection (deleted or upgraded)');
      });
    } catch (error) {
      this.openError = error;
      throw new OutboxIoError('open', { cause: error });
    }
  }

  private async database(operation: string): Promise<OutboxDatabase> {
    try {
      await this.opened;
    } catch (error) {
      throw new OutboxIoError(operation, { cause: (error as OutboxIoError).cause ?? error });
    }
    if (this.db !== undefined) return this.db;
    if (this.closed) {
      // Closed (late appends, settling after close): a short-lived connection of its own.
      return openOutboxDatabase(this.factory, this.options.name, () => undefined);
    }
    throw new OutboxIoError(operation, { cause: this.openError });
  }

  private schedule(): void {
    if (this.buffer.length >= this.options.flushEvents) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.options.persistIntervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Writes what is buffered now, after any write already running; resolves when written. */
  private flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.writing.then(() => this.writeBuffer());
    this.writing = run.catch((error: unknown) => {
      this.options.logger.error('could not write outbox records to IndexedDB', { error });
    });
    return run;
  }

  private async writeBuffer(): Promise<void> {
    if (this.buffer.length === 0) return;
    const group = this.buffer;
    this.buffer = [];
    let db: OutboxDatabase;
    try {
      db = await this.database('append');
    } catch (error) {
      this.keepUnwritten(group);
      throw error;
    }
    const lateConnection = this.db !== db;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.writeGroup(db, group);
          return;
        } catch (error) {
          if (!isQuotaError(error)) throw error;
          const room = this.limits.overflow === 'drop-oldest' && attempt < QUOTA_ATTEMPTS;
          const evicted = room ? await this.evictForQuota(db, group.length * 2 ** attempt) : 0;
          this.options.logger.warn('IndexedDB quota reached', { evicted, attempt });
          if (evicted === 0) {
            this.drops.emit('overflow', group.length);
            return;
          }
        }
      }
    } catch (error) {
      this.keepUnwritten(group);
      throw new OutboxIoError('append', { cause: error });
    } finally {
      if (lateConnection) db.close();
    }
  }

  /** One transaction: the group is added, then limits are enforced; drops are reported after commit. */
  private async writeGroup(db: OutboxDatabase, group: readonly Pending[]): Promise<void> {
    const tx = db.transaction(['records', 'meta'], 'readwrite');
    const found: Found = { corrupt: 0 };
    let overflow = 0;
    const done = tx.done;
    done.catch(() => undefined);
    try {
      const totals = await readTotals(tx, found);
      const store = tx.objectStore('records');
      const { maxEvents, maxBytes } = this.limits;
      const over = (t: Totals): boolean => t.events > maxEvents || t.bytes > maxBytes;
      for (const { record, bytes } of group) {
        if (
          this.limits.overflow === 'drop-newest' &&
          (totals.events + 1 > maxEvents || totals.bytes + bytes > maxBytes)
        ) {
          overflow++;
          continue;
        }
        quiet(store.add({ u: record.uuid, j: record.json, t: record.timestampMs, b: bytes }));
        totals.events++;
        totals.bytes += bytes;
      }
      overflow += await evictOldest(tx, totals, this.claimedSeqs, over, found);
      writeTotals(tx, totals);
    } catch (error) {
      abortQuietly(tx);
      await done.catch(() => undefined);
      throw error;
    }
    await done;
    this.drops.emit('corrupt', found.corrupt);
    this.drops.emit('overflow', overflow);
  }

  /** Storage is full: drop up to `count` of the oldest records (counted) to make room. */
  private async evictForQuota(db: OutboxDatabase, count: number): Promise<number> {
    const tx = db.transaction(['records', 'meta'], 'readwrite');
    const found: Found = { corrupt: 0 };
    let evicted = 0;
    try {
      const totals = await readTotals(tx, found);
      const target = totals.events - count;
      evicted = await evictOldest(tx, totals, this.claimedSeqs, (t) => t.events > target, found);
      writeTotals(tx, totals);
      await tx.done;
    } catch (error) {
      this.options.logger.error('could not make room in IndexedDB', { error });
      return 0;
    }
    this.drops.emit('corrupt', found.corrupt);
    this.drops.emit('overflow', evicted);
    return evicted;
  }

  /** A group that could not be written goes back in front, still bounded by the limits. */
  private keepUnwritten(group: Pending[]): void {
    const all = group.concat(this.buffer);
    let bytes = 0;
    for (const p of all) bytes += p.bytes;
    let dropped = 0;
    while (all.length > this.limits.maxEvents || bytes > this.limits.maxBytes) {
      const gone = this.limits.overflow === 'drop-oldest' ? all.shift()! : all.pop()!;
      bytes -= gone.bytes;
      dropped++;
    }
    this.buffer = all;
    this.drops.emit('overflow', dropped);
    if (!this.closed && all.length > 0) this.schedule();
  }

  private settle(batch: OutboxBatch): Claimed[] | undefined {
    const entries = this.claimed.get(batch);
    if (entries === undefined) return undefined;
    this.claimed.delete(batch);
    for (const e of entries) this.claimedSeqs.delete(e.seq);
    return entries;
  }

  private async removeRecords(operation: string, entries: readonly Claimed[]): Promise<void> {
    const db = await this.database(operation);
    const tx = db.transaction(['records', 'meta'], 'readwrite');
    try {
      const totals = await readTotals(tx, { corrupt: 0 });
      await deleteExisting(tx, totals, entries);
      writeTotals(tx, totals);
      await tx.done;
    } catch (error) {
      // The records stay stored and unclaimed: they are sent again (the uuid dedups them).
      throw new OutboxIoError(operation, { cause: error });
    }
  }

  private async takeLease(owner: string, nowMs: number, expiresAtMs: number): Promise<boolean> {
    const db = await this.database('lease');
    const tx = db.transaction('meta', 'readwrite');
    const meta = tx.objectStore('meta');
    const lease = (await meta.get(LEASE_KEY)) as { owner?: unknown; expiresAtMs?: unknown } | undefined;
    const free =
      lease === undefined ||
      lease === null ||
      lease.owner === owner ||
      typeof lease.expiresAtMs !== 'number' ||
      lease.expiresAtMs <= nowMs;
    if (free) quiet(meta.put({ owner, expiresAtMs }, LEASE_KEY));
    await tx.done;
    return free;
  }

  private async dropLease(owner: string): Promise<void> {
    const db = await this.database('lease');
    const tx = db.transaction('meta', 'readwrite');
    const meta = tx.objectStore('meta');
    const lease = (await meta.get(LEASE_KEY)) as { owner?: unknown } | undefined;
    if (lease?.owner === owner) quiet(meta.delete(LEASE_KEY));
    await tx.done;
  }

  private isExpired(timestampMs: number, nowMs: number): boolean {
    return this.limits.retentionMs > 0 && timestampMs < nowMs - this.limits.retentionMs;
  }
}

/** Aborts a transaction that may already have finished (then abort would throw). */
function abortQuietly(tx: { abort(): void }): void {
  try {
    tx.abort();
  } catch {
    // Already committed or aborted.
  }
}

function toRecord(entry: StoredEntry): OutboxRecord {
  return { uuid: entry.uuid, json: entry.json, timestampMs: entry.timestampMs };
}

/** The IndexedDB outbox (browsers); see `IndexedDBOutbox` and the README for the options. */
export function createIndexedDBOutbox(options: IndexedDBOutboxOptions = {}): IndexedDBOutbox {
  return new IndexedDBOutbox(options);
}
