import { JoinedBatches } from './JoinedBatches.js';
import { throttledWarnings } from '../logger.js';
import { OutboxClosedError, OutboxIoError } from './errors.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import type { BrowserOutboxCommonOptions, ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { resolveBrowserOutboxOptions } from './indexeddb/options.js';
import { HeldInMemory } from './indexeddb/HeldInMemory.js';
import { PageHide } from './indexeddb/pageHide.js';
import type { Pending } from './indexeddb/WriteBuffer.js';
import { WriteBuffer } from './indexeddb/WriteBuffer.js';
import { requireInteger } from './limits.js';
import { keyPrefix } from './localStorage/chunks.js';
import { writeShrunk } from './localStorage/appendAsHolder.js';
import { ChunkStore } from './localStorage/ChunkStore.js';
import { claimChunks } from './localStorage/claimChunks.js';
import { DeadLetterList } from './localStorage/DeadLetterList.js';
import { GroupWriter } from './localStorage/GroupWriter.js';
import { HeldClaims } from './localStorage/HeldClaims.js';
import { LockSections } from './localStorage/LockSections.js';
import { openStorage } from './localStorage/openStorage.js';
import { clearChunks, removeHeld } from './localStorage/removeRecords.js';
import { StateKeys } from './localStorage/stateKeys.js';
import type { StorageEventSource } from './localStorage/storageEvents.js';
import { pageEvents, watchChunkChanges } from './localStorage/storageEvents.js';
import { storageLeaseStore } from './localStorage/storageLease.js';
import { countChunks } from './localStorage/storedSize.js';
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
import { DropListeners } from './records.js';
import { warnOnRetentionDrops } from './retentionClock.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

export type { StorageEventSource } from './localStorage/storageEvents.js';

/** The part of the Web Storage API used here (`localStorage`, or a shim in tests). */
export interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LocalStorageOutboxOptions extends BrowserOutboxCommonOptions {
  /** The storage; default `globalThis.localStorage`. */
  storage?: StorageLike;
  /** A group is written as new chunks of about this many characters at most; default 16 384 (min 256). */
  chunkChars?: number;
  /**
   * Where other tabs' `storage` events arrive, so the chunks are read again only when another
   * tab changed them (and once a second anyway). Default: the page (`globalThis`) when `storage`
   * is the page's own localStorage, else none. None (null): every operation reads every chunk
   * key again.
   */
  storageEvents?: StorageEventSource | null;
}

const DEFAULT_CHUNK_CHARS = 16_384;

/**
 * `maxBytes` when the caller sets none: the origin's whole quota is about 5 MB, which the app
 * needs too, and Chromium reads all of an origin's localStorage on a page's first access to it,
 * on the main thread (about 0.2 s per MB stored), so a backlog near the quota froze every page
 * load for most of a second.
 */
export const LOCAL_STORAGE_MAX_BYTES = 1024 * 1024;

/**
 * The fallback browser outbox on localStorage (layout in `localStorage/chunks.ts`), bounded by
 * the limits (`maxBytes` 1 MiB unless set: LOCAL_STORAGE_MAX_BYTES), past which the overflow
 * policy drops, counted. A full origin (its quota, about 5 MB, is the app's too) removes no
 * stored record, under either policy: what the storage refuses is held in memory
 * (`indexeddb/HeldInMemory.ts`, bounded by the limits), delivered from there after the stored
 * records, and written once the storage has room.
 *
 * Tabs share it like the IndexedDB outbox: only the holder of the delivery lock (Web Locks, or
 * a lease key with an expiry) changes existing chunks (claims, acks, drops); every tab only adds
 * chunks of its own, and the holder enforces the limits over everything. localStorage has no
 * transactions, and a tab may see another tab's writes late (even after the lock changed
 * hands), so a stored chunk never gains records, it only loses them: a rewrite from an older
 * copy can bring back records already gone (sent again, deduped by uuid), never erase new ones.
 */
export class LocalStorageOutbox implements Outbox {
  private readonly options: ResolvedBrowserOutboxOptions;
  private readonly limits: OutboxLimits;
  private readonly chunks: ChunkStore;
  private readonly groupWriter: GroupWriter;
  private readonly lock: LockSections;
  private readonly deadLetters: DeadLetterList;
  private readonly state: StateKeys;
  private readonly drops = new DropListeners();
  private readonly buffer: WriteBuffer;
  private readonly claims = new HeldClaims();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly pageHide: PageHide | null;
  private readonly offStorageEvents: () => void;
  /** What the origin's quota refused: delivered from memory, written when there is room. */
  private readonly held: HeldInMemory;
  /** The held records are to be tried in storage at the next write (else new ones join them). */
  private heldRetryDue = false;
  /** The write running (synchronous) had records refused for the quota. */
  private refusedInWrite = false;
  /** `clear()`s running: the held records are not moved to the write buffer meanwhile. */
  private clearing = 0;
  /** Batches of `claimInMemory` made of a held part and a stored part. */
  private readonly joined = new JoinedBatches();

  constructor(options: LocalStorageOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits =
      options.maxBytes === undefined
        ? { ...this.options.limits, maxBytes: LOCAL_STORAGE_MAX_BYTES }
        : this.options.limits;
    warnOnRetentionDrops(this.drops, this.options.logger, this.limits.retentionMs);
    this.held = new HeldInMemory({
      limits: this.limits,
      now: this.options.now,
      logger: this.options.logger,
      drops: this.drops,
      retry: () => this.retryHeld(),
      storageName: 'localStorage',
    });
    const chunkChars = options.chunkChars ?? DEFAULT_CHUNK_CHARS;
    requireInteger('chunkChars', chunkChars, 256);
    const prefix = keyPrefix(this.options.name);
    const storage = openStorage(options.storage, prefix);
    const writer = randomOwnerId().replace(/-/g, '').slice(0, 12);
    const events = options.storageEvents === undefined ? pageEvents(options.storage) : options.storageEvents;
    this.chunks = new ChunkStore(storage, prefix, writer, this.drops, {
      eventDriven: events !== null,
      now: this.options.now,
    });
    this.offStorageEvents =
      events === null ? () => {} : watchChunkChanges(events, storage, prefix, this.chunks);
    this.deadLetters = new DeadLetterList(
      storage,
      `${prefix}dl`,
      this.limits.maxDeadLetters,
      this.limits.maxDeadLetterBytes,
    );
    this.state = new StateKeys(storage, prefix, this.options.logger);
    this.groupWriter = new GroupWriter(this.chunks, {
      limits: this.limits,
      chunkChars,
      isClaimed: this.claims.isClaimed,
      drops: this.drops,
      // A full storage fails every group write: one line per half minute, the drops counted.
      logger: throttledWarnings(this.options.logger, 30_000, this.options.now),
      hold: (group, refusal) => {
        this.refusedInWrite = true;
        this.held.hold(group, refusal);
      },
    });
    this.buffer = new WriteBuffer({
      ...this.options,
      drops: this.drops,
      storageName: 'localStorage',
      write: (group) => this.write(group),
    });
    const { locks, leaseMs, now } = this.options;
    const lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${prefix}delivery`)
        : new LeaseDeliveryLock({
            owner: writer,
            leaseMs,
            now,
            store: storageLeaseStore(storage, `${prefix}lease`),
          });
    this.lock = new LockSections(
      lock,
      () => this.claims.size > 0,
      () => this.closed,
    );
    // Written in the handler itself: a page going away runs nothing after an await.
    this.pageHide = this.options.flushOnHide ? new PageHide(() => this.writeBufferedNow()) : null;
  }

  append(records: readonly OutboxRecord[]): void {
    const accepted = this.buffer.accept(records, this.options.now());
    if (!this.closed) {
      this.buffer.schedule();
      // The page may never run the write this scheduled (see `PageHide`): localStorage writes now.
      if (accepted.length > 0 && this.pageHide?.hidden === true) this.writeBufferedNow();
      return;
    }
    // localStorage is synchronous: late records are written at once, in a chunk of their own
    // (what a full storage refuses then is counted unsaved: nothing delivers it any more).
    const group = this.buffer.take();
    if (group.length > 0) this.groupWriter.foreign(group);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    await this.buffer.flush();
    const stored = await this.lock.holding((holder) =>
      holder && !this.closed ? this.take(maxEvents, maxBytes, true) : null,
    );
    if (stored !== null || this.closed) return stored;
    // Newer than what is stored, so after it; and this tab's alone: sent without the lock when
    // another tab holds it.
    return this.held.claim(maxEvents, maxBytes);
  }

  /**
   * localStorage answers synchronously, so everything stored is "in memory" here: what waits in
   * the write buffer is written first (and so kept if the send is lost), then the oldest records
   * are claimed. Without the lock another tab may be sending some of them too (see `Outbox`).
   * What a full storage still refuses (held in memory only, lost with the page) comes first, in
   * the same batch.
   */
  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    this.writeBufferedNow();
    const held = this.held.claimInMemory(maxEvents, maxBytes);
    const events = held?.records.length ?? 0;
    const bytes = held?.bytes ?? 0;
    if (events >= maxEvents || bytes >= maxBytes) return held;
    let rest: OutboxBatch | null = null;
    try {
      rest = this.take(maxEvents - events, maxBytes - bytes, false);
      if (rest !== null) this.claims.holdForUnload(rest);
    } catch (error) {
      this.options.logger.warn('could not claim from localStorage on unload', { error });
    }
    if (held === null || rest === null) return held ?? rest;
    return this.joined.join(held, rest);
  }

  inFlight(): OutboxRecord[] {
    return [...this.claims.inFlight(), ...this.held.inFlight()];
  }

  /**
   * Claims the oldest unclaimed stored records within the limits. `atLeastOne`: a first record
   * over `maxBytes` is taken alone (`claim`); otherwise such a record is passed over. Only the
   * lock holder removes what aged out.
   */
  private take(maxEvents: number, maxBytes: number, atLeastOne: boolean): OutboxBatch | null {
    const holder = this.lock.held;
    this.chunks.refresh(holder);
    const { taken, bytes, expired, dirty } = claimChunks(this.chunks, this.claims, {
      maxEvents,
      maxBytes,
      atLeastOne,
      holder,
      nowMs: this.options.retentionNow(),
      limits: this.limits,
    });
    writeShrunk(this.chunks, dirty, 'claim');
    this.drops.emit('retention', expired);
    if (taken.length === 0) return null;
    return this.claims.hold(taken, bytes);
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const parts = this.joined.take(batch);
    if (parts !== undefined) {
      for (const part of parts) await this.ack(part);
      return;
    }
    if (this.held.owns(batch)) return this.held.ack(batch);
    const held = this.claims.settle(batch);
    if (held === undefined) return;
    removeHeld(this.chunks, held, 'ack');
    // Room freed: what the quota refused may fit now.
    if (held.length > 0) this.retryHeld();
  }

  async release(batch: OutboxBatch): Promise<void> {
    const parts = this.joined.take(batch);
    if (parts !== undefined) {
      for (const part of parts) await this.release(part);
      return;
    }
    if (this.held.owns(batch)) return this.held.release(batch);
    const held = this.claims.settle(batch);
    if (held === undefined) return;
    // Claimed before consent was withdrawn and not sent: it must not be kept.
    const cleared = held.filter((h) => h.epoch !== this.claims.epoch);
    removeHeld(this.chunks, cleared, 'release');
    this.drops.emit('consent', cleared.length);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return 0;
    const fromHeld = this.held.claimedOf(records);
    if (fromHeld.length === 0) return this.deadLetterStored(records, reason);
    const mine = new Set(fromHeld);
    const rest = records.filter((r) => !mine.has(r));
    // Stored as dead letters; should the full storage refuse that too, the tier holds them again.
    // Under the lock: the list is read, changed and written back whole, and a tab that is not the
    // holder (delivering what it holds itself) wrote over dead letters the holder had just added,
    // from its late view of them. Another tab's lock kept past the wait: held again, tried later.
    const moved = await this.held.deadLetter(fromHeld, reason, async (letters) => {
      let over: { added: number; discarded: number; bytes: number };
      try {
        over = await this.lock.withLock('deadLetter', () =>
          this.deadLetters.add(
            letters.map((l) => l.record),
            String(reason),
            this.options.now(),
          ),
        );
      } catch (error) {
        if (error instanceof OutboxIoError) throw error;
        throw new OutboxIoError('deadLetter', { cause: error });
      }
      this.drops.emit('overflow', over.discarded, over.bytes);
      return over.added;
    });
    return moved + (rest.length === 0 ? 0 : await this.deadLetterStored(rest, reason));
  }

  private async deadLetterStored(records: readonly OutboxRecord[], reason: string): Promise<number> {
    const moved = this.claims.takeMatching(claimedMatcher(records, this.claims.all()));
    if (moved.length === 0) return 0;
    // Those a clear took while in flight are gone from the chunks already: dropped, not kept as
    // dead letters, which can be replayed and would send them after consent was withdrawn.
    const dead = moved.filter((h) => h.epoch === this.claims.epoch);
    this.drops.emit('consent', moved.length - dead.length);
    if (dead.length === 0) return 0;
    let over: { added: number; discarded: number; bytes: number };
    try {
      over = this.deadLetters.add(
        dead.map((h) => h.record),
        String(reason),
        this.options.now(),
      );
    } catch (error) {
      // Not stored as dead letters: they stay pending, and are tried again.
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    removeHeld(this.chunks, dead, 'deadLetter');
    // Only those not dead letters already (a tab frozen past its lease moving the batch the
    // next holder moved, or a move the page died in the middle of, done again).
    this.drops.emit('dead-lettered', over.added);
    // The oldest dead letters, discarded past maxDeadLetters or maxDeadLetterBytes.
    this.drops.emit('overflow', over.discarded, over.bytes);
    return over.added;
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return this.deadLetters.read().slice(0, max);
  }

  /**
   * Queues the chosen dead letters again, stamped with the time of the replay, so retention counts
   * from now and does not drop an old event the moment it is replayed (its JSON keeps its own
   * timestamp). Only the dead letters the queue took leave the list: not one over `maxBytes`,
   * nor one there is no room for (drop-newest, or a full storage).
   */
  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    // Records appended before the replay are written (and counted against the limits) first.
    await this.buffer.flush();
    const replayed = await this.lock.withLock('replayDeadLetters', () =>
      this.deadLetters.take(uuids, (chosen) => this.groupWriter.requeue(chosen, this.options.now())),
    );
    return replayed.length;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await this.lock.withLock('purgeDeadLetters', () => this.deadLetters.take(uuids))).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.buffer.flush();
    const counted = await this.lock.holding((holder) => {
      this.chunks.refresh(holder);
      const nowMs = this.options.retentionNow();
      const count = countChunks(this.chunks, holder, this.claims.isClaimed, this.limits, nowMs);
      writeShrunk(this.chunks, count.dirty, 'size');
      this.drops.emit('retention', count.expired);
      let { events, bytes, oldest } = count;
      // What a clear took from batches in flight is gone from the chunks, in flight all the same.
      for (const h of this.claims.takenByClear()) {
        events++;
        bytes += h.bytes;
        if (oldest === null || h.record.timestampMs < oldest) oldest = h.record.timestampMs;
      }
      return { events, bytes, oldestTimestampMs: oldest, deadLetters: this.deadLetters.read().length };
    });
    return this.held.sizeWith(counted);
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    // The held records stay held until the tier's clear below: an ack or the retry timer moving
    // them to the write buffer meanwhile would store them after the chunks' clear.
    this.clearing++;
    try {
      await this.buffer.flush();
      const count = await this.lock.withLock('clear', () => clearChunks(this.chunks, this.claims.isClaimed));
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
    return this.state.read<T>(key);
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.closed) throw new OutboxClosedError('setState');
    checkStateKey(key);
    this.state.write(key, encodeStateValue(key, value));
  }

  /**
   * Resolves once everything appended before the call is written; rejects while records are
   * held in memory because the origin's storage is full.
   */
  async persist(): Promise<void> {
    await this.buffer.flush();
    const held = this.held.persistError();
    if (held !== null) throw held;
  }

  /**
   * Hands everything stored (pending records, dead letters) to `move`, then removes it; if `move`
   * throws, it all stays. For the IndexedDB outbox of the same name taking over what a fallback
   * to this one left (`localStorageTakeover.ts`). Done as the holder of the delivery lock, so two
   * tabs never both take the same records; null when another tab holds it.
   */
  async handOver(
    move: (records: readonly OutboxRecord[], deadLetters: readonly DeadLetter[]) => Promise<void>,
  ): Promise<{ records: number; deadLetters: number } | null> {
    if (this.closed) throw new OutboxClosedError('handOver');
    await this.buffer.flush();
    return this.lock.holdingWhile(async (holder) => {
      if (!holder || this.closed) return null;
      const batch = this.take(Number.MAX_SAFE_INTEGER, Infinity, true);
      const letters = this.deadLetters.read();
      let held;
      try {
        await move(batch?.records ?? [], letters);
      } finally {
        held = batch === null ? [] : (this.claims.settle(batch) ?? []);
      }
      removeHeld(this.chunks, held, 'handOver');
      const uuids = letters.map((dl) => dl.record.uuid);
      if (uuids.length > 0) this.deadLetters.take(uuids);
      return { records: held.length, deadLetters: letters.length };
    });
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.pageHide?.stop();
      this.offStorageEvents();
      this.buffer.stop();
      // Once more: what still does not fit is counted `unsaved` below.
      this.retryHeld();
      try {
        await this.buffer.flush();
      } catch (error) {
        this.options.logger.error('could not write the last records at close', { error });
      }
      // What a clear took from batches still in flight is gone from the chunks: dropped, as at a release.
      this.drops.emit('consent', this.claims.takenByClear().length);
      this.claims.clear();
      this.joined.clear();
      await this.held.close();
      await this.lock.release();
    })();
    return this.closing;
  }

  private async write(group: Pending[]): Promise<void> {
    return this.lock.holding((holder) => {
      // Written meanwhile by writeBufferedNow (the page was hidden while this waited).
      if (this.buffer.wasTaken(group)) return;
      this.writeGroup(group, holder);
    });
  }

  /**
   * Writes what waits in the buffer at once, in this turn, as `write` would, and tries the held
   * records in storage first (the page may be going: in memory they are lost with it); a group
   * that cannot be written goes back to the buffer.
   */
  private writeBufferedNow(): void {
    // With the group a write is still waiting to write (for the lock): the page may be gone
    // before the lock answers.
    const group = this.buffer.takeUnwritten();
    if (this.held.waiting && this.clearing === 0) this.heldRetryDue = true;
    else if (group.length === 0) return;
    try {
      this.writeGroup(group, this.lock.held);
    } catch (error) {
      this.options.logger.error('could not write outbox records to localStorage', { error });
      this.buffer.putBack(group);
    }
  }

  /**
   * Writes a group as the lock holder (`holder`) or as another tab. What a full storage refuses
   * is held in memory; while records are held and no retry is due, new ones join them behind
   * (in order) without a write the full origin would refuse again.
   */
  private writeGroup(group: Pending[], holder: boolean): void {
    if (this.held.waiting && !this.heldRetryDue && !this.closed) {
      this.held.hold(group, undefined);
      return;
    }
    this.heldRetryDue = false;
    const all = this.held.takeWaiting().concat(group);
    if (all.length === 0) return;
    this.refusedInWrite = false;
    try {
      if (holder) {
        this.groupWriter.asHolder(all);
      } else {
        this.groupWriter.foreign(all);
      }
    } catch (error) {
      // The cached chunks may hold what was not written: read them again from storage.
      this.chunks.invalidate();
      // Not a quota failure: the buffer keeps `group` for its next try, which tries the held
      // ones again too (they stay held meanwhile).
      const back = all.slice(0, all.length - group.length);
      if (back.length > 0) {
        this.held.hold(back, error);
        this.heldRetryDue = true;
      }
      throw error;
    }
    if (!this.refusedInWrite) this.held.stored();
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
}

/** The localStorage outbox (browsers, when IndexedDB cannot be used). */
export function createLocalStorageOutbox(options: LocalStorageOutboxOptions = {}): LocalStorageOutbox {
  return new LocalStorageOutbox(options);
}
