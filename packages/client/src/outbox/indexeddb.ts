import { OutboxClosedError, OutboxIoError, OutboxOptionError } from './errors.js';
import { DeadLetterStore } from './indexeddb/deadLetterStore.js';
import type { DeliveryLock } from './indexeddb/deliveryLock.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import { abortQuietly, writeWithRoom } from './indexeddb/groupWrite.js';
import { idbLeaseStore } from './indexeddb/leaseStore.js';
import type { BrowserOutboxCommonOptions, ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { resolveBrowserOutboxOptions } from './indexeddb/options.js';
import { PageHide } from './indexeddb/pageHide.js';
import { claimRecords } from './indexeddb/claimRecords.js';
import type { Found, RecordsTx } from './indexeddb/recordStore.js';
import {
  corruptBytes,
  deleteExisting,
  recordsTransaction,
  quiet,
  readTotals,
  walk,
  writeTotals,
} from './indexeddb/recordStore.js';
import type { OutboxDatabase, Totals } from './indexeddb/schema.js';
import { WRITE, databaseName, openOutboxDatabase } from './indexeddb/schema.js';
import type { StoredClaim } from './indexeddb/UnloadBatches.js';
import { UnloadBatches } from './indexeddb/UnloadBatches.js';
import type { Pending } from './indexeddb/WriteBuffer.js';
import { WriteBuffer } from './indexeddb/WriteBuffer.js';
import { defaultSpillStorage, UnloadSpill } from './indexeddb/unloadSpill.js';
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
import type { StorageLike } from './localStorage.js';
import { DropListeners } from './records.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

/**
 * An IndexedDB factory (`indexedDB`, or fake-indexeddb's `IDBFactory`), typed by what is called on
 * it: the DOM's `IDBFactory` in this public option made a Node project without the DOM lib fail
 * to compile the client's declarations.
 */
export interface IndexedDBFactoryLike {
  open(name: string, version?: number): unknown;
}

export interface IndexedDBOutboxOptions extends BrowserOutboxCommonOptions {
  /** The IndexedDB factory; default `globalThis.indexedDB`. */
  indexedDB?: IndexedDBFactoryLike;
  /**
   * Where records not yet written are saved when the page is hidden or goes away (see
   * `indexeddb/unloadSpill.ts`); default `globalThis.localStorage`; null: not saved.
   */
  unloadStorage?: StorageLike | null;
}

interface Claimed {
  readonly seq: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  /** The `clear()` generation it was claimed in; a release after a clear drops it. */
  readonly epoch: number;
  /** The database it was claimed from (see `IndexedDBOutbox.generation`). */
  readonly generation: number;
}

/**
 * The browser's durable outbox: one IndexedDB database per outbox name, shared by every tab of
 * the origin (layout in `indexeddb/schema.ts`).
 *
 * - `append` is synchronous: records wait in a `WriteBuffer` and are written in one transaction
 *   per group, within `persistIntervalMs`; `persist()` forces it, and so does the page being
 *   hidden or unloaded.
 * - Limits are enforced in the write transaction against totals kept in the database, so they
 *   hold for all tabs together; overflow, retention, quota and damaged records are counted.
 * - Only the tab holding the delivery lock (`indexeddb/deliveryLock.ts`) claims. Claims live in
 *   that tab's memory: if it closes or crashes, the lock is freed and its claimed records are
 *   simply pending again for the next holder (not those a `clear()` took: it deletes them).
 * - `claimInMemory` (the unload send) claims from this page's own pending records, kept in
 *   memory by `indexeddb/ResidentRecords.ts`, without reading the database or taking the lock.
 */
export class IndexedDBOutbox implements Outbox {
  /** Resolves once the database is open; rejects (OutboxIoError) when it cannot be opened. */
  readonly opened: Promise<void>;
  private readonly options: ResolvedBrowserOutboxOptions;
  private readonly limits: OutboxLimits;
  private readonly factory: IDBFactory;
  private db: OutboxDatabase | undefined;
  private lostReason: unknown;
  /** Opening the database again after another tab took it away (see `database`). */
  private reopening: Promise<void> | null = null;
  private reopenedAtMs = 0;
  private readonly lock: DeliveryLock;
  private readonly deadLetters: DeadLetterStore;
  private readonly drops = new DropListeners();
  private readonly buffer: WriteBuffer;
  private readonly claimed = new Map<OutboxBatch, Claimed[]>();
  private readonly claimedSeqs = new Set<number>();
  private readonly unload: UnloadBatches;
  /** Claims run one at a time, so each sees the ones before it in `claimedSeqs`. */
  private claiming: Promise<unknown> = Promise.resolve();
  private epoch = 0;
  /**
   * Bumped when the database is opened again after another tab deleted it: record numbers start
   * over in the new one, so a batch claimed from the old one must not ack, release or
   * dead-letter by number there (its ack deleted new records that had the same numbers).
   */
  private generation = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly pageHide: PageHide | null;
  private readonly spill: UnloadSpill;
  /** A write of what the spill saved is under way (see `writeSpilled`). */
  private spillWrite = false;
  /** Keys of the records taken back from an unload spill, removed once those are written. */
  private readonly spilledKeys: string[];

  constructor(options: IndexedDBOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits = this.options.limits;
    const factory = options.indexedDB ?? (globalThis as { indexedDB?: IndexedDBFactoryLike }).indexedDB;
    if (factory === undefined || factory === null || typeof factory.open !== 'function') {
      throw new OutboxOptionError('indexedDB', 'IndexedDB is not available here (pass an IDBFactory)');
    }
    const unloadStorage = options.unloadStorage === undefined ? defaultSpillStorage() : options.unloadStorage;
    if (unloadStorage !== null && typeof unloadStorage?.setItem !== 'function') {
      throw new OutboxOptionError('unloadStorage', 'must be a Storage (localStorage) or null');
    }
    this.factory = factory as IDBFactory;
    this.buffer = new WriteBuffer({
      ...this.options,
      drops: this.drops,
      storageName: 'IndexedDB',
      write: (group) => this.write(group),
    });
    this.unload = new UnloadBatches({
      buffer: this.buffer,
      claimedSeqs: this.claimedSeqs,
      limits: this.limits,
      now: this.options.now,
      drops: this.drops,
      epoch: () => this.epoch,
      remove: (operation, entries) => this.remove(operation, entries),
    });
    this.opened = this.open();
    // Every operation that needs the database reports a failed open; keep this one quiet.
    this.opened.catch(() => undefined);
    const database = (): Promise<OutboxDatabase> => this.database('dead letters');
    this.deadLetters = new DeadLetterStore(database, this.limits.maxDeadLetters);
    const { locks, name, leaseMs, now } = this.options;
    this.lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${databaseName(name)}:delivery`)
        : new LeaseDeliveryLock({ owner: randomOwnerId(), leaseMs, now, store: idbLeaseStore(database) });
    this.spill = new UnloadSpill(unloadStorage, `${databaseName(name)}:unwritten:`);
    const spilled = this.spill.load();
    this.spilledKeys = spilled.keys;
    if (spilled.records.length > 0) {
      this.append(spilled.records);
      void this.buffer.flush().then(
        () => this.spill.remove(this.spilledKeys.splice(0)),
        () => undefined,
      );
    }
    this.pageHide = this.options.flushOnHide ? new PageHide(() => this.spillUnwritten()) : null;
  }

  append(records: readonly OutboxRecord[]): void {
    const accepted = this.buffer.accept(records, this.options.now());
    // After close, late records still reach the database, on a connection of their own.
    if (this.closed) void this.buffer.flush();
    else {
      this.unload.add(accepted);
      this.buffer.schedule();
      // The page may never run the write this scheduled (see `PageHide`).
      if (accepted.length > 0 && this.pageHide?.hidden === true) this.spillAppended(accepted);
    }
  }

  claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    try {
      checkClaimLimits(maxEvents, maxBytes);
    } catch (error) {
      return Promise.reject(error);
    }
    const run = this.claiming.then(() => this.claimNow(maxEvents, maxBytes));
    this.claiming = run.catch(() => undefined);
    return run;
  }

  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    checkClaimLimits(maxEvents, maxBytes);
    return this.closed ? null : this.unload.claim(maxEvents, maxBytes);
  }

  /** Batches of `claim` only: an unload batch is the unload send's own. */
  inFlight(): OutboxRecord[] {
    return [...this.claimed.values()].flat().map((e) => e.record);
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const settled = this.settle(batch);
    // Claimed from a database another tab deleted since: gone with it, nothing to remove.
    const entries = settled === undefined ? undefined : this.current(settled);
    if (entries !== undefined) {
      // Still claimed until the delete commits: a claim running meanwhile (another delivery
      // worker) would otherwise read them from the store and send them again.
      try {
        await this.remove('ack', entries);
      } finally {
        this.unclaim(entries);
      }
      this.unload.forgetSeqs(entries.map((e) => e.seq));
      return;
    }
    await this.unload.ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    if (await this.unload.release(batch)) return;
    const settled = this.settle(batch);
    if (settled === undefined) return;
    const entries = this.current(settled);
    // Claimed before consent was withdrawn and not sent: it must not be kept.
    const cleared = entries.filter((e) => e.epoch !== this.epoch);
    this.unclaim(entries.filter((e) => e.epoch === this.epoch));
    try {
      await this.remove('release', cleared);
    } finally {
      this.unclaim(cleared);
    }
    this.drops.emit('consent', cleared.length);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<void> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return;
    const fromUnload = this.unload.held();
    const match = claimedMatcher(records, [...[...this.claimed.values()].flat(), ...fromUnload]);
    const moved: Claimed[] = [];
    for (const [batch, entries] of this.claimed) {
      this.claimed.set(
        batch,
        entries.filter((e) => !match(e.record)),
      );
      for (const e of entries) if (match(e.record)) moved.push(e);
    }
    const fromBatches = fromUnload.filter((p) => match(p.record));
    if (moved.length === 0 && fromBatches.length === 0) return;
    // Those a clear took while in flight are dropped, not kept: a dead letter can be replayed,
    // which would send them after consent was withdrawn.
    const takenByClear = new Set(this.unload.takenByClear());
    const dead = [
      ...moved.filter((m) => m.epoch === this.epoch).map((m) => m.record),
      ...fromBatches.filter((p) => !takenByClear.has(p)).map((p) => p.record),
    ];
    const cleared = moved.length + fromBatches.length - dead.length;
    this.unload.forgetSeqs(moved.map((m) => m.seq));
    // They stay claimed until the move commits (or fails and they are pending again).
    let discarded: number;
    try {
      discarded = await this.moveToDeadLetters(moved, fromBatches, dead, reason);
    } finally {
      this.unclaim(moved);
    }
    this.drops.emit('dead-lettered', dead.length);
    // The oldest dead letters, discarded past maxDeadLetters.
    this.drops.emit('overflow', discarded);
    this.drops.emit('consent', cleared);
  }

  private async moveToDeadLetters(
    moved: readonly Claimed[],
    fromBatches: Parameters<UnloadBatches['takeForDeadLetter']>[0],
    dead: readonly OutboxRecord[],
    reason: string,
  ): Promise<number> {
    const stored: StoredClaim[] = [
      ...this.current(moved),
      ...(await this.unload.takeForDeadLetter(fromBatches)),
    ];
    const db = await this.database('deadLetter');
    const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readwrite', WRITE);
    const rtx = tx as unknown as RecordsTx;
    try {
      const totals = await readTotals(rtx, { corrupt: 0 });
      await deleteExisting(rtx, totals, stored);
      writeTotals(rtx, totals);
      const at = this.options.now();
      const discarded = await this.deadLetters.add(tx.objectStore('deadLetters'), dead, String(reason), at);
      await tx.done;
      return discarded;
    } catch (error) {
      abortQuietly(tx);
      // Not moved: the records stay pending and are tried again.
      throw new OutboxIoError('deadLetter', { cause: error });
    }
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    const { letters, corrupt } = await this.io('listDeadLetters', () => this.deadLetters.list(max));
    this.drops.emit('corrupt', corrupt);
    return letters;
  }

  /** See `DeadLetterStore.replay`: queued with the replay time; what the queue does not take stays. */
  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    // Records appended before the replay are written (and counted against the limits) first.
    await this.buffer.flush();
    const { queued, overflow, corrupt } = await this.io('replayDeadLetters', () =>
      this.deadLetters.replay(uuids, {
        nowMs: this.options.now(),
        limits: this.limits,
        claimed: this.claimedSeqs,
      }),
    );
    this.drops.emit('overflow', overflow);
    this.drops.emit('corrupt', corrupt);
    return queued;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await this.io('purgeDeadLetters', () => this.deadLetters.take(uuids))).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.buffer.flush();
    const cutoff = this.limits.retentionMs > 0 ? this.options.now() - this.limits.retentionMs : -Infinity;
    const { expired, corrupt } = await this.recordsTx('size', async (tx, save) => {
      // What aged out while waiting is dropped here too, so the answer never counts it.
      const found: Found = { corrupt: 0 };
      const totals = await readTotals(tx, found);
      let n = 0;
      if (cutoff > -Infinity) {
        const byTime = tx.objectStore('records').index('t');
        let cursor = await byTime.openCursor(IDBKeyRange.upperBound(cutoff, true));
        while (cursor !== null) {
          if (!this.claimedSeqs.has(cursor.primaryKey)) {
            totals.events--;
            totals.bytes -= corruptBytes(cursor.value);
            quiet(cursor.delete());
            n++;
          }
          cursor = await cursor.continue();
        }
      }
      if (n > 0 || found.corrupt > 0) save(totals);
      return { expired: n, corrupt: found.corrupt };
    });
    this.drops.emit('retention', expired);
    this.drops.emit('corrupt', corrupt);
    const db = await this.database('size');
    try {
      const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readonly');
      const totals = await readTotals(tx as unknown as RecordsTx, { corrupt: 0 });
      const oldest = await tx.objectStore('records').index('t').openKeyCursor();
      const deadLetters = await tx.objectStore('deadLetters').count();
      // What a clear took from batches in flight is gone from the store, in flight all the same.
      const cleared = this.clearedInFlight();
      const oldestStored = oldest === null ? null : oldest.key;
      return {
        events: Math.max(0, totals.events) + cleared.events,
        bytes: Math.max(0, totals.bytes) + cleared.bytes,
        oldestTimestampMs:
          cleared.oldest === null || (oldestStored !== null && oldestStored <= cleared.oldest)
            ? oldestStored
            : cleared.oldest,
        deadLetters,
      };
    } catch (error) {
      throw new OutboxIoError('size', { cause: error });
    }
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    await this.buffer.flush();
    const count = await this.recordsTx('clear', async (tx, save) => {
      const store = tx.objectStore('records');
      const totals = await readTotals(tx, { corrupt: 0 });
      let n = 0;
      await walk(store, null, { corrupt: 0 }, (entry) => {
        // Records of batches in flight go now too, not when the batch settles: claims live in
        // memory, so a page closed (or frozen past its lease) before that left them to the next
        // holder, which sent them after consent was withdrawn. Their ack then removes nothing,
        // their release or a close counts them (consent); only the pending ones are answered.
        if (!this.claimedSeqs.has(entry.seq)) n++;
        quiet(store.delete(entry.seq));
        totals.events--;
        totals.bytes -= entry.bytes;
        return true;
      });
      save(totals);
      return n;
    });
    this.unload.cleared();
    this.epoch++;
    this.drops.emit('consent', count);
    return count;
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new OutboxClosedError('getState');
    checkStateKey(key);
    const db = await this.database('getState');
    const json = await this.io('getState', () => db.get('state', key));
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
    await this.io('setState', async () => {
      if (json === undefined) await db.delete('state', key);
      else await db.put('state', json, key);
    });
  }

  /** Resolves once everything appended before the call is written (acks are written before they resolve). */
  persist(): Promise<void> {
    return this.buffer.flush();
  }

  /**
   * Hands over the records appended but not written yet (and forgets them). For a caller that
   * moves to another storage because this database could not be opened.
   */
  takeUnwritten(): OutboxRecord[] {
    this.unload.clear();
    // Handed over with the rest: the next storage keeps them now.
    this.spill.remove(this.spilledKeys.splice(0));
    return this.buffer.take().map((p) => p.record);
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /**
   * The page is hidden or goes away: what is not written yet is saved to localStorage at once (a
   * write begun now may never commit), then written; once it is, the saved copy goes.
   */
  private spillUnwritten(): void {
    const unwritten = this.buffer.unwritten();
    if (unwritten.length > 0) this.spill.save(unwritten.map((p) => p.record));
    this.writeSpilled();
  }

  /** Appended while the page is hidden: saved beside the rest at once, then written. */
  private spillAppended(accepted: readonly Pending[]): void {
    this.spill.add(accepted.map((p) => p.record));
    this.writeSpilled();
  }

  /**
   * Writes what is saved in the spill and then removes the saved copy, or, when a hidden page
   * appended more meanwhile, saves only what is still unwritten and writes again. A page shown
   * again needs no copy: it saves anew when it is next hidden.
   */
  private writeSpilled(): void {
    if (this.spillWrite) return;
    this.spillWrite = true;
    void this.buffer.flush().then(
      () => {
        this.spillWrite = false;
        const rest = this.buffer.unwritten();
        if (rest.length === 0 || this.pageHide?.hidden !== true) {
          this.spill.clear();
          return;
        }
        this.spill.save(rest.map((p) => p.record));
        this.writeSpilled();
      },
      () => {
        // Kept saved: the write is tried again later, and a next load takes them back.
        this.spillWrite = false;
      },
    );
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.pageHide?.stop();
    this.buffer.stop();
    try {
      await this.buffer.flush();
    } catch (error) {
      this.options.logger.error('could not write the last records at close', { error });
    }
    await this.claiming;
    // What a clear took from batches still in flight is gone from the store: dropped, as at a release.
    this.drops.emit('consent', this.clearedInFlight().events);
    // Claims are kept in memory only: dropping them makes the records claimable again.
    this.claimed.clear();
    this.claimedSeqs.clear();
    this.unload.clear();
    await this.lock.release();
    this.db?.close();
    this.db = undefined;
  }

  private async claimNow(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    if (this.closed) return null;
    await this.buffer.flush();
    if (!(await this.lock.acquire()) || this.closed) return null;
    const nowMs = this.options.now();
    let result: Awaited<ReturnType<typeof claimRecords>>;
    try {
      result = await this.recordsTx('claim', (tx, save) =>
        claimRecords(tx, save, {
          maxEvents,
          maxBytes,
          nowMs,
          limits: this.limits,
          claimed: this.claimedSeqs,
        }),
      );
    } catch (error) {
      // Holding the delivery lock while this tab cannot read its records would keep every other
      // tab of the origin from delivering too.
      if (this.claimed.size === 0) await this.lock.release().catch(() => {});
      throw error;
    }
    this.drops.emit('retention', result.expired);
    this.drops.emit('corrupt', result.corrupt);
    if (result.taken.length === 0) {
      // Nothing to deliver: let another tab (perhaps a foreground one) take the lock.
      if (this.claimed.size === 0) await this.lock.release();
      return null;
    }
    const taken: Claimed[] = result.taken.map((t) => ({
      ...t,
      epoch: this.epoch,
      generation: this.generation,
    }));
    const batch: OutboxBatch = { records: taken.map((c) => c.record), bytes: result.bytes };
    this.claimed.set(batch, taken);
    for (const c of taken) this.claimedSeqs.add(c.seq);
    return batch;
  }

  private async recordsTx<T>(
    operation: string,
    body: (tx: RecordsTx, save: (totals: Totals) => void) => Promise<T>,
  ): Promise<T> {
    return recordsTransaction(await this.database(operation), operation, body);
  }

  private async remove(operation: string, entries: readonly StoredClaim[]): Promise<void> {
    if (entries.length === 0) return;
    // On failure the records stay stored and unclaimed: sent again (the uuid dedups them).
    await this.recordsTx(operation, async (tx, save) => {
      const totals = await readTotals(tx, { corrupt: 0 });
      if ((await deleteExisting(tx, totals, entries)) > 0) save(totals);
    });
  }

  /**
   * The records of batches in flight (`claim`'s and the unload send's) that a `clear()` took:
   * deleted from the store at the clear, still counted until their batch settles.
   */
  private clearedInFlight(): { events: number; bytes: number; oldest: number | null } {
    let events = 0;
    let bytes = 0;
    let oldest: number | null = null;
    const count = (record: OutboxRecord, size: number): void => {
      events++;
      bytes += size;
      if (oldest === null || record.timestampMs < oldest) oldest = record.timestampMs;
    };
    for (const entries of this.claimed.values()) {
      for (const e of this.current(entries)) if (e.epoch !== this.epoch) count(e.record, e.bytes);
    }
    for (const p of this.unload.takenByClear()) count(p.record, p.bytes);
    return { events, bytes, oldest };
  }

  /** Takes the batch out of the claims in flight; its records stay claimed until `unclaim`. */
  private settle(batch: OutboxBatch): Claimed[] | undefined {
    const entries = this.claimed.get(batch);
    if (entries === undefined) return undefined;
    this.claimed.delete(batch);
    return entries;
  }

  private unclaim(entries: readonly Claimed[]): void {
    for (const e of entries) if (e.generation === this.generation) this.claimedSeqs.delete(e.seq);
  }

  /** The entries claimed from the database open now (not from one another tab deleted). */
  private current(entries: readonly Claimed[]): Claimed[] {
    return entries.filter((e) => e.generation === this.generation);
  }

  private async write(group: Pending[]): Promise<void> {
    const db = await this.database('append');
    try {
      await writeWithRoom(db, group, {
        limits: this.limits,
        claimed: this.claimedSeqs,
        drops: this.drops,
        logger: this.options.logger,
        report: this.unload.report,
      });
    } finally {
      // After close: a short-lived connection of its own.
      if (db !== this.db) db.close();
    }
  }

  private async open(): Promise<void> {
    try {
      this.db = await openOutboxDatabase(this.factory, this.options.name, () => {
        // Another tab deletes or upgrades the database: this connection is gone.
        this.db = undefined;
        this.lostReason = new Error('the database was closed by another connection (deleted or upgraded)');
      });
    } catch (error) {
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
    // Closed (late appends): a short-lived connection of its own, closed after the write.
    if (this.closed) return openOutboxDatabase(this.factory, this.options.name, () => undefined);
    // Lost to another tab (deleted, or upgraded by a newer version): open it again, at most once
    // a second. A deleted database comes back empty and this tab goes on delivering; one at a
    // version this code cannot open stays an error.
    const nowMs = Date.now();
    if (nowMs - this.reopenedAtMs >= REOPEN_INTERVAL_MS) {
      this.reopenedAtMs = nowMs;
      this.reopening ??= this.open()
        .then(() => {
          // A new database: what was claimed or kept in memory named records of the old one.
          this.generation++;
          this.claimedSeqs.clear();
          this.unload.clear();
        })
        .finally(() => {
          this.reopening = null;
        });
      try {
        await this.reopening;
      } catch (error) {
        this.lostReason = (error as OutboxIoError).cause ?? error;
      }
      if (this.db !== undefined) return this.db;
    }
    throw new OutboxIoError(operation, { cause: this.lostReason });
  }

  private async io<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof OutboxIoError) throw error;
      throw new OutboxIoError(operation, { cause: error });
    }
  }
}

/** How often, at most, a tab opens again a database another tab deleted or upgraded, ms. */
const REOPEN_INTERVAL_MS = 1000;

/** The IndexedDB outbox (browsers); see `IndexedDBOutbox` and the README for the options. */
export function createIndexedDBOutbox(options: IndexedDBOutboxOptions = {}): IndexedDBOutbox {
  return new IndexedDBOutbox(options);
}
