import { OutboxClosedError, OutboxIoError, OutboxOptionError } from './errors.js';
import type { DeliveryLock } from './indexeddb/deliveryLock.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import type { BrowserOutboxCommonOptions, ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { resolveBrowserOutboxOptions } from './indexeddb/options.js';
import { PageHide } from './indexeddb/pageHide.js';
import type { Pending } from './indexeddb/WriteBuffer.js';
import { isExpired, WriteBuffer } from './indexeddb/WriteBuffer.js';
import { requireInteger } from './limits.js';
import type { Chunk, ChunkEntry } from './localStorage/chunks.js';
import { isStorageFull, keyPrefix } from './localStorage/chunks.js';
import { appendAsHolder, writeShrunk } from './localStorage/appendAsHolder.js';
import { ChunkStore } from './localStorage/ChunkStore.js';
import { DeadLetterList } from './localStorage/DeadLetterList.js';
import { storageLeaseStore } from './localStorage/storageLease.js';
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
import { DropListeners, utf8Length } from './records.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

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

/** The part of a page (`window`) that delivers `storage` events. */
export interface StorageEventSource {
  addEventListener(
    type: 'storage',
    listener: (event: { key: string | null; storageArea?: unknown }) => void,
  ): void;
  removeEventListener(
    type: 'storage',
    listener: (event: { key: string | null; storageArea?: unknown }) => void,
  ): void;
}

const DEFAULT_CHUNK_CHARS = 16_384;

/**
 * `maxBytes` when the caller sets none: the origin's whole quota is about 5 MB, which the app
 * needs too, and Chromium reads all of an origin's localStorage on a page's first access to it,
 * on the main thread (about 0.2 s per MB stored), so a backlog near the quota froze every page
 * load for most of a second.
 */
export const LOCAL_STORAGE_MAX_BYTES = 1024 * 1024;
/** How long `clear`, `replayDeadLetters` and `purgeDeadLetters` wait for another tab's lock. */
const LOCK_WAIT_MS = 5_000;

interface Held {
  readonly key: string;
  readonly index: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  readonly epoch: number;
}

/**
 * The fallback browser outbox on localStorage (layout in `localStorage/chunks.ts`), bounded by
 * the limits (`maxBytes` 1 MiB unless set: LOCAL_STORAGE_MAX_BYTES) and by the origin's quota
 * (about 5 MB): a full storage drops the oldest records, counted as overflow.
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
  private readonly storage: StorageLike;
  private readonly prefix: string;
  private readonly chunkChars: number;
  private readonly chunks: ChunkStore;
  private readonly lock: DeliveryLock;
  private readonly deadLetters: DeadLetterList;
  private readonly drops = new DropListeners();
  private readonly buffer: WriteBuffer;
  private readonly claimed = new Map<OutboxBatch, Held[]>();
  /** The batches of `claimInMemory`: the unload send's own, not in flight elsewhere. */
  private readonly unloadBatches = new WeakSet<OutboxBatch>();
  private readonly claimedIds = new Set<string>();
  private readonly isClaimed = (key: string, index: number): boolean =>
    this.claimedIds.has(`${key}#${index}`);
  private epoch = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Sections running with the delivery lock taken (see `holding`). */
  private sections = 0;
  private readonly pageHide: PageHide | null;
  private readonly offStorageEvents: () => void;

  constructor(options: LocalStorageOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits =
      options.maxBytes === undefined
        ? { ...this.options.limits, maxBytes: LOCAL_STORAGE_MAX_BYTES }
        : this.options.limits;
    this.chunkChars = options.chunkChars ?? DEFAULT_CHUNK_CHARS;
    requireInteger('chunkChars', this.chunkChars, 256);
    this.storage = options.storage ?? defaultStorage();
    if (typeof this.storage?.getItem !== 'function' || typeof this.storage.key !== 'function') {
      throw new OutboxOptionError('storage', 'must be a Storage (localStorage)');
    }
    this.prefix = keyPrefix(this.options.name);
    // Safari's private mode and blocked storage answer reads but throw on the first write.
    try {
      this.storage.setItem(`${this.prefix}probe`, '1');
      this.storage.removeItem(`${this.prefix}probe`);
    } catch (error) {
      throw new OutboxIoError('open', { cause: error });
    }
    const writer = randomOwnerId().replace(/-/g, '').slice(0, 12);
    const events = options.storageEvents === undefined ? pageEvents(options.storage) : options.storageEvents;
    this.chunks = new ChunkStore(this.storage, this.prefix, writer, this.drops, {
      eventDriven: events !== null,
      now: this.options.now,
    });
    this.offStorageEvents = events === null ? () => {} : this.watchStorage(events);
    this.deadLetters = new DeadLetterList(this.storage, `${this.prefix}dl`, this.limits.maxDeadLetters);
    this.buffer = new WriteBuffer({
      ...this.options,
      drops: this.drops,
      storageName: 'localStorage',
      write: (group) => this.write(group),
    });
    const { locks, leaseMs, now } = this.options;
    this.lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${this.prefix}delivery`)
        : new LeaseDeliveryLock({
            owner: writer,
            leaseMs,
            now,
            store: storageLeaseStore(this.storage, `${this.prefix}lease`),
          });
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
    // localStorage is synchronous: late records are written at once, in a chunk of their own.
    const group = this.buffer.take();
    if (group.length > 0) this.writeForeign(group);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    await this.buffer.flush();
    return this.holding((holder) => (holder && !this.closed ? this.take(maxEvents, maxBytes, true) : null));
  }

  /**
   * localStorage answers synchronously, so everything stored is "in memory" here: what waits in
   * the write buffer is written first (and so kept if the send is lost), then the oldest records
   * are claimed. Without the lock another tab may be sending some of them too (see `Outbox`).
   */
  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    this.writeBufferedNow();
    try {
      const batch = this.take(maxEvents, maxBytes, false);
      if (batch !== null) this.unloadBatches.add(batch);
      return batch;
    } catch (error) {
      this.options.logger.warn('could not claim from localStorage on unload', { error });
      return null;
    }
  }

  inFlight(): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (const [batch, held] of this.claimed) {
      if (!this.unloadBatches.has(batch)) for (const h of held) out.push(h.record);
    }
    return out;
  }

  /**
   * Claims the oldest unclaimed stored records within the limits. `atLeastOne`: a first record
   * over `maxBytes` is taken alone (`claim`); otherwise such a record is passed over. Only the
   * lock holder removes what aged out.
   */
  private take(maxEvents: number, maxBytes: number, atLeastOne: boolean): OutboxBatch | null {
    const holder = this.lock.held;
    this.chunks.refresh(holder);
    const nowMs = this.options.now();
    const taken: Held[] = [];
    const dirty = new Set<Chunk>();
    let bytes = 0;
    let expired = 0;
    this.chunks.forEach((chunk, index, entry) => {
      if (this.isClaimed(chunk.key, index)) return true;
      if (isExpired(this.limits, entry.timestampMs, nowMs)) {
        if (holder) {
          chunk.entries[index] = null;
          dirty.add(chunk);
          expired++;
        }
        return true;
      }
      if (bytes + entry.bytes > maxBytes && !(atLeastOne && taken.length === 0)) {
        return !atLeastOne && entry.bytes > maxBytes;
      }
      this.claimedIds.add(`${chunk.key}#${index}`);
      taken.push({ key: chunk.key, index, record: toRecord(entry), bytes: entry.bytes, epoch: this.epoch });
      bytes += entry.bytes;
      return taken.length < maxEvents;
    });
    this.writeDirty(dirty, 'claim');
    this.drops.emit('retention', expired);
    if (taken.length === 0) return null;
    const batch: OutboxBatch = { records: taken.map((h) => h.record), bytes };
    this.claimed.set(batch, taken);
    return batch;
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const held = this.settle(batch);
    if (held !== undefined) this.remove(held, 'ack');
  }

  async release(batch: OutboxBatch): Promise<void> {
    const held = this.settle(batch);
    if (held === undefined) return;
    // Claimed before consent was withdrawn and not sent: it must not be kept.
    const cleared = held.filter((h) => h.epoch !== this.epoch);
    this.remove(cleared, 'release');
    this.drops.emit('consent', cleared.length);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<void> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return;
    const match = claimedMatcher(records, [...this.claimed.values()].flat());
    const moved: Held[] = [];
    for (const [batch, held] of this.claimed) {
      this.claimed.set(
        batch,
        held.filter((h) => !match(h.record)),
      );
      for (const h of held) if (match(h.record)) moved.push(h);
    }
    if (moved.length === 0) return;
    for (const h of moved) this.claimedIds.delete(`${h.key}#${h.index}`);
    // Those a clear took while in flight are gone from the chunks already: dropped, not kept as
    // dead letters, which can be replayed and would send them after consent was withdrawn.
    const dead = moved.filter((h) => h.epoch === this.epoch);
    this.drops.emit('consent', moved.length - dead.length);
    if (dead.length === 0) return;
    let discarded: number;
    try {
      discarded = this.deadLetters.add(
        dead.map((h) => h.record),
        String(reason),
        this.options.now(),
      );
    } catch (error) {
      // Not stored as dead letters: they stay pending, and are tried again.
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    this.remove(dead, 'deadLetter');
    this.drops.emit('dead-lettered', dead.length);
    // The oldest dead letters, discarded past maxDeadLetters.
    this.drops.emit('overflow', discarded);
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
    const replayed = await this.withLock('replayDeadLetters', () =>
      this.deadLetters.take(uuids, (chosen) => this.requeue(chosen)),
    );
    return replayed.length;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await this.withLock('purgeDeadLetters', () => this.deadLetters.take(uuids))).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.buffer.flush();
    return this.holding((holder) => {
      this.chunks.refresh(holder);
      const nowMs = this.options.now();
      const dirty = new Set<Chunk>();
      let events = 0;
      let bytes = 0;
      let oldest: number | null = null;
      let expired = 0;
      this.chunks.forEach((chunk, index, entry) => {
        // Only the lock holder may remove what aged out; the others just count it.
        if (holder && !this.isClaimed(chunk.key, index) && isExpired(this.limits, entry.timestampMs, nowMs)) {
          chunk.entries[index] = null;
          dirty.add(chunk);
          expired++;
          return true;
        }
        events++;
        bytes += entry.bytes;
        if (oldest === null || entry.timestampMs < oldest) oldest = entry.timestampMs;
        return true;
      });
      this.writeDirty(dirty, 'size');
      this.drops.emit('retention', expired);
      // What a clear took from batches in flight is gone from the chunks, in flight all the same.
      for (const h of this.clearedInFlight()) {
        events++;
        bytes += h.bytes;
        if (oldest === null || h.record.timestampMs < oldest) oldest = h.record.timestampMs;
      }
      return { events, bytes, oldestTimestampMs: oldest, deadLetters: this.deadLetters.read().length };
    });
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    await this.buffer.flush();
    const count = await this.withLock('clear', () => {
      this.chunks.refresh(true);
      const dirty = new Set<Chunk>();
      let n = 0;
      this.chunks.forEach((chunk, index) => {
        // Records of batches in flight go now too, not when the batch settles: claims live in
        // memory, so a page closed (or frozen past its lease) before that left them to the next
        // holder, which sent them after consent was withdrawn. Their ack then removes nothing,
        // their release or a close counts them (consent); only the pending ones are answered.
        if (!this.isClaimed(chunk.key, index)) n++;
        chunk.entries[index] = null;
        dirty.add(chunk);
        return true;
      });
      this.writeDirty(dirty, 'clear');
      return n;
    });
    this.epoch++;
    this.drops.emit('consent', count);
    return count;
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new OutboxClosedError('getState');
    checkStateKey(key);
    const json = this.storage.getItem(`${this.prefix}s:${key}`);
    if (json === null) return undefined;
    try {
      return JSON.parse(json) as T;
    } catch (error) {
      this.options.logger.warn('outbox state value is damaged; treated as unset', { key, error });
      return undefined;
    }
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.closed) throw new OutboxClosedError('setState');
    checkStateKey(key);
    const json = encodeStateValue(key, value);
    try {
      if (json === undefined) this.storage.removeItem(`${this.prefix}s:${key}`);
      else this.storage.setItem(`${this.prefix}s:${key}`, json);
    } catch (error) {
      throw new OutboxIoError('setState', { cause: error });
    }
  }

  persist(): Promise<void> {
    return this.buffer.flush();
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
      try {
        await this.buffer.flush();
      } catch (error) {
        this.options.logger.error('could not write the last records at close', { error });
      }
      // What a clear took from batches still in flight is gone from the chunks: dropped, as at a release.
      this.drops.emit('consent', this.clearedInFlight().length);
      this.claimed.clear();
      this.claimedIds.clear();
      await this.lock.release();
    })();
    return this.closing;
  }

  private async write(group: Pending[]): Promise<void> {
    return this.holding((holder) => {
      // Written meanwhile by writeBufferedNow (the page was hidden while this waited).
      if (this.buffer.wasTaken(group)) return;
      try {
        if (holder) {
          this.appendHeld(group);
        } else {
          this.writeForeign(group);
        }
      } catch (error) {
        // The cached chunks may hold what was not written: read them again from storage.
        this.chunks.invalidate();
        throw error;
      }
    });
  }

  /** Writes dead letters to the queue as the lock holder (see `replayDeadLetters`); answers those stored. */
  private requeue(deadLetters: readonly DeadLetter[]): Set<DeadLetter> {
    const nowMs = this.options.now();
    const group = new Map<Pending, DeadLetter>();
    for (const dl of deadLetters) {
      const { uuid, json } = dl.record;
      const bytes = utf8Length(json);
      if (bytes <= this.limits.maxBytes) group.set({ record: { uuid, json, timestampMs: nowMs }, bytes }, dl);
    }
    let stored: Set<Pending>;
    try {
      stored = this.appendHeld([...group.keys()], true);
    } catch (error) {
      this.chunks.invalidate();
      throw error;
    }
    return new Set([...stored].map((p) => group.get(p)!));
  }

  /** Appends as the lock holder (who may drop, trim and rewrite chunks); answers what was stored. */
  private appendHeld(group: Pending[], keepsRefused = false): Set<Pending> {
    return appendAsHolder(this.chunks, group, {
      keepsRefused,
      limits: this.limits,
      chunkChars: this.chunkChars,
      isClaimed: this.isClaimed,
      drops: this.drops,
      logger: this.options.logger,
    });
  }

  /**
   * Writes what waits in the buffer at once, in this turn, as `write` would; a group that cannot
   * be written goes back to the buffer.
   */
  private writeBufferedNow(): void {
    // With the group a write is still waiting to write (for the lock): the page may be gone
    // before the lock answers.
    const group = this.buffer.takeUnwritten();
    if (group.length === 0) return;
    try {
      if (!this.lock.held) this.writeForeign(group);
      else {
        this.appendHeld(group);
      }
    } catch (error) {
      this.chunks.invalidate();
      this.options.logger.error('could not write outbox records to localStorage', { error });
      this.buffer.putBack(group);
    }
  }

  /** Not the lock holder: a chunk of its own; the holder enforces the limits later. */
  private writeForeign(group: readonly Pending[]): void {
    try {
      this.chunks.writeNew(group.map(({ record, bytes }) => toEntry(record, bytes)));
    } catch (error) {
      if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
      // Only the holder may remove older records; full means this group cannot be kept.
      this.options.logger.warn('localStorage is full; records dropped', { count: group.length });
      this.drops.emit('overflow', group.length);
    }
  }

  private writeDirty(dirty: ReadonlySet<Chunk>, operation: string): void {
    writeShrunk(this.chunks, dirty, operation);
  }

  /** The records of batches in flight that a `clear()` took (marked gone in their chunks then). */
  private clearedInFlight(): Held[] {
    return [...this.claimed.values()].flat().filter((h) => h.epoch !== this.epoch);
  }

  private settle(batch: OutboxBatch): Held[] | undefined {
    const held = this.claimed.get(batch);
    if (held === undefined) return undefined;
    this.claimed.delete(batch);
    for (const h of held) this.claimedIds.delete(`${h.key}#${h.index}`);
    return held;
  }

  /** Marks claimed records gone in their chunks (checking the uuid: another holder may have rewritten it). */
  private remove(held: readonly Held[], operation: string): void {
    if (held.length === 0) return;
    this.chunks.refresh(true);
    const dirty = new Set<Chunk>();
    for (const h of held) {
      const chunk = this.chunks.get(h.key);
      const entry = chunk?.entries[h.index];
      if (chunk === undefined || entry === null || entry === undefined || entry.uuid !== h.record.uuid)
        continue;
      chunk.entries[h.index] = null;
      dirty.add(chunk);
    }
    this.writeDirty(dirty, operation);
  }

  private async withLock<T>(operation: string, fn: () => T): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      // Held before: not let go after (a claim's batch, or the caller's own section).
      const had = this.lock.held;
      const done = await this.holding((holder) => (holder ? { value: fn() } : null), !had);
      if (done !== null) return done.value;
      if (Date.now() >= deadline) {
        throw new OutboxIoError(operation, { cause: new Error('another tab holds the outbox lock') });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Marks the chunks changed when another tab writes one of them (or clears the storage). */
  private watchStorage(events: StorageEventSource): () => void {
    const chunkKeys = `${this.prefix}c:`;
    const listener = (event: { key: string | null; storageArea?: unknown }): void => {
      if (event.storageArea !== undefined && event.storageArea !== null && event.storageArea !== this.storage)
        return;
      if (event.key === null || event.key.startsWith(chunkKeys)) this.chunks.changed();
    };
    events.addEventListener('storage', listener);
    return () => events.removeEventListener('storage', listener);
  }

  /**
   * Runs `fn` with the delivery lock taken if it is free (`holder`: whether this tab holds it),
   * then lets the lock go if nothing is claimed, so an idle tab lets a foreground tab deliver.
   * Sections overlap (a write, a claim and a size at once): the lock is let go only when none is
   * running and nothing is claimed, decided on the turn it goes, after the lock's own awaits.
   * Deciding earlier let a claim that had just been told "held" take a batch after the lock was
   * gone, and another tab claim the same records.
   */
  private async holding<T>(fn: (holder: boolean) => T, letGo = true): Promise<T> {
    this.sections++;
    let holder = false;
    try {
      holder = (await this.lock.acquire()) && this.lock.held;
      return fn(holder);
    } finally {
      this.sections--;
      if (holder && letGo && !this.closed) {
        await this.lock.release(() => this.claimed.size > 0 || this.sections > 0);
      }
    }
  }
}

function toEntry(record: OutboxRecord, bytes: number): ChunkEntry {
  return { uuid: record.uuid, json: record.json, timestampMs: record.timestampMs, bytes };
}

function toRecord(entry: ChunkEntry): OutboxRecord {
  return { uuid: entry.uuid, json: entry.json, timestampMs: entry.timestampMs };
}

/** The page, when it delivers `storage` events for its own localStorage (`storage` left out). */
function pageEvents(storage: StorageLike | undefined): StorageEventSource | null {
  const page = globalThis as Partial<StorageEventSource>;
  return storage === undefined &&
    typeof page.addEventListener === 'function' &&
    typeof page.removeEventListener === 'function'
    ? (page as StorageEventSource)
    : null;
}

function defaultStorage(): StorageLike {
  let storage: StorageLike | undefined;
  try {
    storage = (globalThis as { localStorage?: StorageLike }).localStorage;
  } catch (error) {
    // Blocked storage throws on access (cookies disabled, sandboxed frames).
    throw new OutboxIoError('open', { cause: error });
  }
  if (storage !== undefined && storage !== null) return storage;
  throw new OutboxOptionError('storage', 'localStorage is not available here (pass a Storage)');
}

/** The localStorage outbox (browsers, when IndexedDB cannot be used). */
export function createLocalStorageOutbox(options: LocalStorageOutboxOptions = {}): LocalStorageOutbox {
  return new LocalStorageOutbox(options);
}
