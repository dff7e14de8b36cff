import { JoinedBatches } from './JoinedBatches.js';
import { OutboxClosedError } from './errors.js';
import { ClaimsInFlight } from './indexeddb/ClaimsInFlight.js';
import { claimRecords } from './indexeddb/claimRecords.js';
import { clearRecords } from './indexeddb/clearRecords.js';
import { pickDeadLetters } from './indexeddb/deadLetterClaims.js';
import type { Discarded } from './indexeddb/deadLetterStore.js';
import { DeadLetterStore } from './indexeddb/deadLetterStore.js';
import type { DeliveryLock } from './indexeddb/deliveryLock.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import { writeOrHold } from './indexeddb/groupWrite.js';
import { HeldInMemory } from './indexeddb/HeldInMemory.js';
import { idbLeaseStore } from './indexeddb/leaseStore.js';
import { moveToDeadLetters } from './indexeddb/moveToDeadLetters.js';
import type { ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { resolveBrowserOutboxOptions } from './indexeddb/options.js';
import { io, OutboxConnection } from './indexeddb/OutboxConnection.js';
import type { IndexedDBOutboxOptions } from './indexeddb/outboxOptions.js';
import { resolveIndexedDBStorages } from './indexeddb/outboxOptions.js';
import { PageHide } from './indexeddb/pageHide.js';
import { SentElsewhere } from './indexeddb/SentElsewhere.js';
import type { RecordsTx } from './indexeddb/recordStore.js';
import { deleteExisting, readTotals, recordsTransaction } from './indexeddb/recordStore.js';
import type { OutboxDatabase, Totals } from './indexeddb/schema.js';
import { databaseName } from './indexeddb/schema.js';
import { readState, writeState } from './indexeddb/stateStore.js';
import { dropExpired, readStoredSize, withClearedInFlight } from './indexeddb/storedSize.js';
import type { StoredClaim } from './indexeddb/UnloadBatches.js';
import { UnloadBatches } from './indexeddb/UnloadBatches.js';
import { UnloadSpill } from './indexeddb/unloadSpill.js';
import { UnwrittenSpill } from './indexeddb/UnwrittenSpill.js';
import type { Pending } from './indexeddb/WriteBuffer.js';
import { WriteBuffer } from './indexeddb/WriteBuffer.js';
import { checkClaimLimits } from './memory.js';
import type {
  DeadLetter,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from './outbox.js';
import { DropListeners } from './records.js';
import { warnOnRetentionDrops } from './retentionClock.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

export type { IndexedDBFactoryLike, IndexedDBOutboxOptions } from './indexeddb/outboxOptions.js';

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
 * - A full origin (`QuotaExceededError`) deletes none of the stored records, under either
 *   overflow policy: the quota is not the outbox's bound, and the app's data fills it. What it
 *   refuses is held in memory (`indexeddb/HeldInMemory.ts`, bounded by the limits), delivered
 *   from there after the stored records, and written once the storage has room.
 */
export class IndexedDBOutbox implements Outbox {
  /** Resolves once the database is open; rejects (OutboxIoError) when it cannot be opened. */
  readonly opened: Promise<void>;
  private readonly options: ResolvedBrowserOutboxOptions;
  private readonly limits: OutboxLimits;
  private readonly connection: OutboxConnection;
  private readonly lock: DeliveryLock;
  private readonly deadLetters: DeadLetterStore;
  private readonly drops = new DropListeners();
  private readonly buffer: WriteBuffer;
  private readonly claims = new ClaimsInFlight();
  private readonly unload: UnloadBatches;
  /** Claims run one at a time, so each sees the ones before it in `claims.seqs`. */
  private claiming: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** What left the outbox in this tab, told to the others (and theirs, to this one). */
  private readonly sentElsewhere: SentElsewhere;
  private closing: Promise<void> | undefined;
  private readonly pageHide: PageHide | null;
  private readonly spill: UnwrittenSpill;
  /** A caller moves the records elsewhere if the open fails (`takeUnwritten`). */
  private fallback = false;
  /** What the origin's quota refused: delivered from memory, written when there is room. */
  private readonly held: HeldInMemory;
  /** The held records are to be tried in storage at the next write (else new ones join them). */
  private heldRetryDue = false;
  /** `clear()`s running: the held records are not moved to the write buffer meanwhile. */
  private clearing = 0;
  /** Batches of `claimInMemory` made of a held part and a resident part. */
  private readonly joined = new JoinedBatches();

  constructor(options: IndexedDBOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits = this.options.limits;
    warnOnRetentionDrops(this.drops, this.options.logger, this.limits.retentionMs);
    const { factory, unloadStorage } = resolveIndexedDBStorages(options);
    this.held = new HeldInMemory({
      limits: this.limits,
      now: this.options.now,
      logger: this.options.logger,
      drops: this.drops,
      retry: () => this.retryHeld(),
    });
    this.buffer = new WriteBuffer({
      ...this.options,
      drops: this.drops,
      storageName: 'IndexedDB',
      write: (group) => this.write(group),
      quiet: () => this.movedOnFailedOpen(),
    });
    this.unload = new UnloadBatches({
      buffer: this.buffer,
      claimedSeqs: this.claims.seqs,
      limits: this.limits,
      now: this.options.retentionNow,
      drops: this.drops,
      epoch: () => this.claims.epoch,
      remove: (operation, entries) => this.remove(operation, entries),
    });
    this.sentElsewhere = new SentElsewhere(
      `${databaseName(this.options.name)}:gone`,
      (uuids) => this.unload.forgetUuids(uuids),
      this.options.logger,
    );
    this.connection = new OutboxConnection({
      factory: factory as IDBFactory,
      name: this.options.name,
      closed: () => this.closed,
      reopened: () => {
        this.claims.reopened();
        this.unload.clear();
      },
    });
    this.opened = this.connection.opened;
    const database = (): Promise<OutboxDatabase> => this.connection.database('dead letters');
    this.deadLetters = new DeadLetterStore(database, this.limits);
    const { locks, name, leaseMs, now } = this.options;
    this.lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${databaseName(name)}:delivery`)
        : new LeaseDeliveryLock({ owner: randomOwnerId(), leaseMs, now, store: idbLeaseStore(database) });
    this.spill = new UnwrittenSpill(
      new UnloadSpill(unloadStorage, `${databaseName(name)}:unwritten:`),
      this.buffer,
      () => this.pageHide?.hidden === true,
      () => this.held.records(),
    );
    this.spill.takeBack((records) => this.append(records));
    this.pageHide = this.options.flushOnHide ? new PageHide(() => this.spill.saveUnwritten()) : null;
  }

  append(records: readonly OutboxRecord[]): void {
    const accepted = this.buffer.accept(records, this.options.now());
    // After close, late records still reach the database, on a connection of their own.
    if (this.closed) void this.buffer.flush();
    else {
      this.unload.add(accepted);
      this.buffer.schedule();
      // The page may never run the write this scheduled (see `PageHide`).
      if (accepted.length > 0 && this.pageHide?.hidden === true) this.spill.saveAppended(accepted);
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

  /**
   * Held records first (only in memory, they are lost when the page goes), then this page's
   * residents, in one batch.
   */
  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    const held = this.held.claimInMemory(maxEvents, maxBytes);
    if (held === null) return this.unload.claim(maxEvents, maxBytes);
    const events = held.records.length;
    if (events >= maxEvents || held.bytes >= maxBytes) return held;
    const rest = this.unload.claim(maxEvents - events, maxBytes - held.bytes);
    if (rest === null) return held;
    return this.joined.join(held, rest);
  }

  /** Batches of `claim` only: an unload batch is the unload send's own. */
  inFlight(): OutboxRecord[] {
    return [...this.claims.records(), ...this.held.inFlight()];
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const parts = this.joined.take(batch);
    if (parts !== undefined) {
      for (const part of parts) await this.ack(part);
      return;
    }
    if (this.held.owns(batch)) return this.held.ack(batch);
    const settled = this.claims.settle(batch);
    // Claimed from a database another tab deleted since: gone with it, nothing to remove.
    const entries = settled === undefined ? undefined : this.claims.current(settled);
    if (entries !== undefined) {
      // Still claimed until the delete commits: a claim running meanwhile (another delivery
      // worker) would otherwise read them from the store and send them again.
      try {
        await this.remove('ack', entries);
      } finally {
        this.claims.unclaim(entries);
      }
      this.unload.forgetSeqs(entries.map((e) => e.seq));
      this.sentElsewhere.gone(entries.map((e) => e.record.uuid));
      // Room freed: what the quota refused may fit now.
      this.retryHeld();
      return;
    }
    await this.unload.ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    const parts = this.joined.take(batch);
    if (parts !== undefined) {
      for (const part of parts) await this.release(part);
      return;
    }
    if (this.held.owns(batch)) return this.held.release(batch);
    if (await this.unload.release(batch)) return;
    const settled = this.claims.settle(batch);
    if (settled === undefined) return;
    const entries = this.claims.current(settled);
    // Claimed before consent was withdrawn and not sent: it must not be kept.
    const cleared = entries.filter((e) => e.epoch !== this.claims.epoch);
    this.claims.unclaim(entries.filter((e) => e.epoch === this.claims.epoch));
    try {
      await this.remove('release', cleared);
    } finally {
      this.claims.unclaim(cleared);
    }
    this.drops.emit('consent', cleared.length);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return 0;
    const fromHeld = this.held.claimedOf(records);
    if (fromHeld.length === 0) return this.deadLetterStored(records, reason);
    const mine = new Set(fromHeld);
    const rest = records.filter((r) => !mine.has(r));
    const moved = await this.held.deadLetter(fromHeld, reason, async (letters) => {
      const discarded = await moveToDeadLetters(
        await this.connection.database('deadLetter'),
        this.deadLetters,
        {
          stored: [],
          dead: letters.map((l) => l.record),
          reason: String(reason),
          now: this.options.now,
        },
      );
      this.drops.emit('overflow', discarded.discarded, discarded.bytes);
      return discarded.added;
    });
    return moved + (rest.length === 0 ? 0 : await this.deadLetterStored(rest, reason));
  }

  private async deadLetterStored(records: readonly OutboxRecord[], reason: string): Promise<number> {
    const pick = pickDeadLetters(records, this.claims, this.unload);
    if (pick === null) return 0;
    const { moved, fromBatches, dead, cleared } = pick;
    // They stay claimed until the move commits (or fails and they are pending again).
    let discarded: { added: number } & Discarded;
    try {
      const stored: StoredClaim[] = [
        ...this.claims.current(moved),
        ...(await this.unload.takeForDeadLetter(fromBatches)),
      ];
      discarded = await moveToDeadLetters(await this.connection.database('deadLetter'), this.deadLetters, {
        stored,
        dead,
        reason: String(reason),
        now: this.options.now,
      });
    } finally {
      this.claims.unclaim(moved);
    }
    // Only those not dead letters already (a tab frozen past its lease moving the batch the
    // next holder moved): the others were counted where they were moved.
    this.drops.emit('dead-lettered', discarded.added);
    this.sentElsewhere.gone(dead.map((r) => r.uuid));
    // The oldest dead letters, discarded past maxDeadLetters or maxDeadLetterBytes.
    this.drops.emit('overflow', discarded.discarded, discarded.bytes);
    this.drops.emit('consent', cleared);
    return discarded.added;
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    const { letters, corrupt } = await io('listDeadLetters', () => this.deadLetters.list(max));
    this.drops.emit('corrupt', corrupt);
    return letters;
  }

  /** See `DeadLetterStore.replay`: queued with the replay time; what the queue does not take stays. */
  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    // Records appended before the replay are written (and counted against the limits) first.
    await this.buffer.flush();
    const { queued, overflow, corrupt } = await io('replayDeadLetters', () =>
      this.deadLetters.replay(uuids, {
        nowMs: this.options.now(),
        limits: this.limits,
        claimed: this.claims.seqs,
      }),
    );
    this.drops.emit('overflow', overflow);
    this.drops.emit('corrupt', corrupt);
    return queued;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await io('purgeDeadLetters', () => this.deadLetters.take(uuids))).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.buffer.flush();
    const cutoff =
      this.limits.retentionMs > 0 ? this.options.retentionNow() - this.limits.retentionMs : -Infinity;
    const { expired, corrupt } = await this.recordsTx('size', (tx, save) =>
      // What aged out while waiting is dropped here too, so the answer never counts it.
      dropExpired(tx, save, cutoff, this.claims.seqs),
    );
    this.drops.emit('retention', expired);
    this.drops.emit('corrupt', corrupt);
    const stored = await readStoredSize(await this.connection.database('size'));
    // What a clear took from batches in flight is gone from the store, in flight all the same.
    const counted = withClearedInFlight(stored, this.clearedInFlight());
    return this.held.sizeWith(counted);
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    // The held records stay held until the tier's clear below: an ack or the retry timer moving
    // them to the write buffer meanwhile would store them after the records' clear.
    this.clearing++;
    try {
      await this.buffer.flush();
      const count = await this.recordsTx('clear', (tx, save) => clearRecords(tx, save, this.claims.seqs));
      this.unload.cleared();
      this.claims.cleared();
      this.drops.emit('consent', count);
      // Counted by the tier itself; its batches in flight are dropped when released.
      return count + (await this.held.clear());
    } finally {
      this.clearing--;
    }
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new OutboxClosedError('getState');
    checkStateKey(key);
    return readState<T>(await this.connection.database('getState'), key, this.options.logger);
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.closed) throw new OutboxClosedError('setState');
    checkStateKey(key);
    const json = encodeStateValue(key, value);
    await writeState(await this.connection.database('setState'), key, json);
  }

  /**
   * Resolves once everything appended before the call is written (acks are written before they
   * resolve); rejects while records are held in memory because the origin's storage is full.
   */
  async persist(): Promise<void> {
    await this.buffer.flush();
    const held = this.held.persistError();
    if (held !== null) throw held;
  }

  /**
   * Told by a caller that moves to another storage if this database cannot be opened (then with
   * `takeUnwritten`): writes that fail for that reason are not reported as errors, nothing is lost.
   */
  fallsBackOnFailedOpen(): void {
    this.fallback = true;
  }

  /**
   * Dead letters another storage kept (a localStorage fallback's), added with their reason and
   * time unless one with the same uuid is here already. Answers how many were added.
   */
  async adoptDeadLetters(letters: readonly DeadLetter[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('adoptDeadLetters');
    const { added, discarded, bytes } = await io('adoptDeadLetters', () => this.deadLetters.adopt(letters));
    this.drops.emit('overflow', discarded, bytes);
    return added;
  }

  /**
   * Hands over the records appended but not written yet (and forgets them). For a caller that
   * moves to another storage because this database could not be opened.
   */
  takeUnwritten(): OutboxRecord[] {
    this.unload.clear();
    // Handed over with the rest: the next storage keeps them now.
    this.spill.forgetTakenBack();
    return this.buffer.take().map((p) => p.record);
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
    this.pageHide?.stop();
    this.buffer.stop();
    // Once more: what still does not fit is counted `unsaved` below.
    this.retryHeld();
    try {
      await this.buffer.flush();
    } catch (error) {
      if (!this.movedOnFailedOpen())
        this.options.logger.error('could not write the last records at close', { error });
    }
    await this.claiming;
    // What a clear took from batches still in flight is gone from the store: dropped, as at a release.
    this.drops.emit('consent', this.clearedInFlight().length);
    // Claims are kept in memory only: dropping them makes the records claimable again.
    this.claims.clear();
    this.unload.clear();
    this.joined.clear();
    await this.held.close();
    this.sentElsewhere.close();
    await this.lock.release();
    this.connection.close();
  }

  private movedOnFailedOpen(): boolean {
    return this.fallback && this.connection.openFailed;
  }

  private async claimNow(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    if (this.closed) return null;
    await this.buffer.flush();
    if (this.closed) return null;
    // The held records are this page's alone: another tab's delivery does not send them.
    if (!(await this.lock.acquire())) return this.held.claim(maxEvents, maxBytes);
    if (this.closed) return null;
    const nowMs = this.options.retentionNow();
    let result: Awaited<ReturnType<typeof claimRecords>>;
    // Claimed as they are read, not once the transaction is done: an unload claim in between (a
    // hidden tab) took the same written records, which went out in two requests.
    const taking: number[] = [];
    try {
      result = await this.recordsTx('claim', (tx, save) =>
        claimRecords(tx, save, {
          maxEvents,
          maxBytes,
          nowMs,
          limits: this.limits,
          claimed: this.claims.seqs,
          onTake: (seq) => {
            this.claims.seqs.add(seq);
            taking.push(seq);
          },
        }),
      );
    } catch (error) {
      // Not claimed after all: pending again.
      for (const seq of taking) this.claims.seqs.delete(seq);
      // Holding the delivery lock while this tab cannot read its records would keep every other
      // tab of the origin from delivering too.
      if (this.claims.size === 0) await this.lock.release().catch(() => {});
      throw error;
    }
    this.drops.emit('retention', result.expired);
    this.drops.emit('corrupt', result.corrupt);
    if (result.taken.length === 0) {
      // Nothing to deliver: let another tab (perhaps a foreground one) take the lock.
      if (this.claims.size === 0) await this.lock.release();
      // Newer than anything stored: what the quota refused comes after it.
      return this.held.claim(maxEvents, maxBytes);
    }
    return this.claims.hold(result.taken, result.bytes);
  }

  private async recordsTx<T>(
    operation: string,
    body: (tx: RecordsTx, save: (totals: Totals) => void) => Promise<T>,
  ): Promise<T> {
    return recordsTransaction(await this.connection.database(operation), operation, body);
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
  private clearedInFlight(): { record: OutboxRecord; bytes: number }[] {
    return [...this.claims.takenByClear(), ...this.unload.takenByClear()];
  }

  /**
   * The held records go to the write buffer, in front, and the next write tries them in storage
   * (after an ack freed room, on the tier's backoff, at close).
   */
  private retryHeld(): void {
    if (!this.held.waiting || this.clearing > 0) return;
    this.heldRetryDue = true;
    this.buffer.putBack(this.held.takeWaiting());
  }

  /** A group the quota refused goes to the memory tier (an unload batch keeps what it holds). */
  private hold(group: readonly Pending[], refusal: unknown): void {
    this.held.hold(this.unload.heldBack(group), refusal);
  }

  private async write(group: Pending[]): Promise<void> {
    // While records are held and no retry is due, new ones join them behind (in order) without
    // a transaction the full origin would refuse again.
    if (this.held.waiting && !this.heldRetryDue && !this.closed) {
      this.hold(group, undefined);
      return;
    }
    const db = await this.connection.database('append');
    this.heldRetryDue = false;
    const all = this.held.takeWaiting().concat(group);
    let refused = false;
    try {
      await writeOrHold(db, all, {
        limits: this.limits,
        claimed: this.claims.seqs,
        drops: this.drops,
        report: this.unload.report,
        hold: (refusedGroup, refusal) => {
          refused = true;
          this.hold(refusedGroup, refusal);
        },
      });
      if (!refused) this.held.stored();
    } catch (error) {
      // Not a quota failure: the buffer keeps `group` for its next try, which tries the held
      // ones again too (they stay held meanwhile).
      const back = all.slice(0, all.length - group.length);
      if (back.length > 0) {
        this.held.hold(back, error);
        this.heldRetryDue = true;
      }
      throw error;
    } finally {
      // After close: a short-lived connection of its own.
      if (db !== this.connection.current) db.close();
    }
  }
}

/** The IndexedDB outbox (browsers); see `IndexedDBOutbox` and the README for the options. */
export function createIndexedDBOutbox(options: IndexedDBOutboxOptions = {}): IndexedDBOutbox {
  return new IndexedDBOutbox(options);
}
