import { OutboxClosedError, OutboxIoError, OutboxOptionError } from './errors.js';
import type { DeliveryLock, LeaseStore } from './indexeddb/deliveryLock.js';
import { LeaseDeliveryLock, randomOwnerId, WebLockDeliveryLock } from './indexeddb/deliveryLock.js';
import type { BrowserOutboxCommonOptions, ResolvedBrowserOutboxOptions } from './indexeddb/options.js';
import { onPageHide, resolveBrowserOutboxOptions } from './indexeddb/options.js';
import { requireInteger } from './limits.js';
import type { Chunk, ChunkEntry } from './localStorage/chunks.js';
import {
  chunkKey,
  chunkSeq,
  isLive,
  isStorageFull,
  keyPrefix,
  parseChunk,
  serializeChunk,
} from './localStorage/chunks.js';
import { DeadLetterList } from './localStorage/DeadLetterList.js';
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
  /** A chunk is rewritten per group until it holds this many characters; default 16 384. */
  chunkChars?: number;
}

const DEFAULT_CHUNK_CHARS = 16_384;
/** How long `clear`, `replayDeadLetters` and `purgeDeadLetters` wait for another tab's lock. */
const LOCK_WAIT_MS = 5_000;
const QUOTA_ATTEMPTS = 4;

interface Held {
  readonly key: string;
  readonly index: number;
  readonly record: OutboxRecord;
  readonly bytes: number;
  readonly epoch: number;
}

/**
 * The fallback browser outbox on localStorage (layout in `localStorage/chunks.ts`), bounded by
 * the limits and by the origin's quota (about 5 MB): a full storage drops the oldest records,
 * counted as overflow.
 *
 * Tabs share it like the IndexedDB outbox: only the holder of the delivery lock (Web Locks, or
 * a lease key with an expiry) changes existing chunks (claims, acks, drops); the other tabs
 * only add chunks of their own, and the holder enforces the limits over everything. localStorage
 * has no transactions, so that rule is what keeps two tabs from overwriting each other.
 */
export class LocalStorageOutbox implements Outbox {
  private readonly options: ResolvedBrowserOutboxOptions;
  private readonly limits: OutboxLimits;
  private readonly storage: StorageLike;
  private readonly prefix: string;
  private readonly writer = randomOwnerId().replace(/-/g, '').slice(0, 12);
  private readonly chunkChars: number;
  private readonly lock: DeliveryLock;
  private readonly deadLetters: DeadLetterList;
  private readonly drops = new DropListeners();
  /** The chunks as last read, by key; `order` is their keys in append order. */
  private chunks = new Map<string, Chunk>();
  private order: string[] = [];
  /** This outbox's last chunk, extended while it holds the lock. */
  private openChunk: string | undefined;
  private lastSeq = -1;
  private buffer: { record: OutboxRecord; bytes: number }[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly claimed = new Map<OutboxBatch, Held[]>();
  private readonly claimedIds = new Set<string>();
  private epoch = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly offHide: () => void;

  constructor(options: LocalStorageOutboxOptions = {}) {
    this.options = resolveBrowserOutboxOptions(options);
    this.limits = this.options.limits;
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
    this.deadLetters = new DeadLetterList(this.storage, `${this.prefix}dl`, this.limits.maxDeadLetters);
    const { locks, leaseMs, now } = this.options;
    this.lock =
      locks !== null
        ? new WebLockDeliveryLock(locks, `${this.prefix}delivery`)
        : new LeaseDeliveryLock({ owner: this.writer, leaseMs, now, store: this.leaseStore() });
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
      if (record === null) invalid++;
      else if (this.isExpired(record.timestampMs, nowMs)) expired++;
      else {
        const bytes = utf8Length(record.json);
        if (bytes > this.limits.maxBytes) tooLarge++;
        else this.buffer.push({ record, bytes });
      }
    }
    this.drops.emit('corrupt', invalid);
    this.drops.emit('too-large', tooLarge);
    this.drops.emit('retention', expired);
    if (this.buffer.length === 0) return;
    if (this.closed) {
      // localStorage is synchronous: late records are written at once, in a chunk of their own.
      const group = this.buffer.splice(0);
      this.writeForeign(group);
      return;
    }
    this.schedule();
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    await this.flush();
    if (!(await this.lock.acquire()) || this.closed) return null;
    this.refresh(true);
    const nowMs = this.options.now();
    const taken: Held[] = [];
    const dirty = new Set<Chunk>();
    let bytes = 0;
    let expired = 0;
    const epoch = this.epoch;
    scan: for (const key of this.order) {
      const chunk = this.chunks.get(key)!;
      for (let index = 0; index < chunk.entries.length; index++) {
        const entry = chunk.entries[index];
        if (entry === null || entry === undefined || this.claimedIds.has(`${key}#${index}`)) continue;
        if (this.isExpired(entry.timestampMs, nowMs)) {
          chunk.entries[index] = null;
          dirty.add(chunk);
          expired++;
          continue;
        }
        if (taken.length > 0 && bytes + entry.bytes > maxBytes) break scan;
        this.claimedIds.add(`${key}#${index}`);
        taken.push({ key, index, record: toRecord(entry), bytes: entry.bytes, epoch });
        bytes += entry.bytes;
        if (taken.length >= maxEvents) break scan;
      }
    }
    this.writeDirty(dirty, 'claim');
    this.drops.emit('retention', expired);
    if (taken.length === 0) {
      if (this.claimed.size === 0) await this.lock.release();
      return null;
    }
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
      const keep = held.filter((h) => !match(h.record));
      for (const h of held) {
        if (!match(h.record)) continue;
        moved.push(h);
        this.claimedIds.delete(`${h.key}#${h.index}`);
      }
      this.claimed.set(batch, keep);
    }
    if (moved.length === 0) return;
    try {
      this.deadLetters.add(
        moved.map((h) => h.record),
        String(reason),
        this.options.now(),
      );
    } catch (error) {
      // Not stored as dead letters: they stay pending, and will be tried again.
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    this.remove(moved, 'deadLetter');
    this.drops.emit('dead-lettered', moved.length);
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return this.deadLetters.read().slice(0, max);
  }

  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    const taken = await this.withLock('replayDeadLetters', () => this.deadLetters.take(uuids));
    this.append(taken.map((dl) => dl.record));
    await this.flush();
    return taken.length;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return (await this.withLock('purgeDeadLetters', () => this.deadLetters.take(uuids))).length;
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    await this.flush();
    const holder = await this.lock.acquire();
    try {
      this.refresh(holder);
      const nowMs = this.options.now();
      const dirty = new Set<Chunk>();
      let events = 0;
      let bytes = 0;
      let oldest: number | null = null;
      let expired = 0;
      for (const key of this.order) {
        const chunk = this.chunks.get(key)!;
        chunk.entries.forEach((entry, index) => {
          if (entry === null) return;
          const held = this.claimedIds.has(`${key}#${index}`);
          // Only the lock holder may remove what aged out; the others just count it.
          if (holder && !held && this.isExpired(entry.timestampMs, nowMs)) {
            chunk.entries[index] = null;
            dirty.add(chunk);
            expired++;
            return;
          }
          events++;
          bytes += entry.bytes;
          if (oldest === null || entry.timestampMs < oldest) oldest = entry.timestampMs;
        });
      }
      this.writeDirty(dirty, 'size');
      this.drops.emit('retention', expired);
      return { events, bytes, oldestTimestampMs: oldest, deadLetters: this.deadLetters.read().length };
    } finally {
      if (holder && this.claimed.size === 0) await this.lock.release();
    }
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    await this.flush();
    const count = await this.withLock('clear', () => {
      this.refresh(true);
      const dirty = new Set<Chunk>();
      let n = 0;
      for (const key of this.order) {
        const chunk = this.chunks.get(key)!;
        chunk.entries.forEach((entry, index) => {
          if (entry === null || this.claimedIds.has(`${key}#${index}`)) return;
          chunk.entries[index] = null;
          dirty.add(chunk);
          n++;
        });
      }
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
    return this.flush();
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      this.offHide();
      try {
        await this.flush();
      } catch (error) {
        this.options.logger.error('could not write the last records at close', { error });
      }
      this.claimed.clear();
      this.claimedIds.clear();
      await this.lock.release();
    })();
    return this.closing;
  }

  private schedule(): void {
    if (this.buffer.length >= this.options.flushEvents) {
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

  private flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.writing.then(() => this.writeBuffer());
    this.writing = run.catch((error: unknown) => {
      this.options.logger.error('could not write outbox records to localStorage', { error });
    });
    return run;
  }

  private async writeBuffer(): Promise<void> {
    if (this.buffer.length === 0) return;
    const holder = await this.lock.acquire();
    const group = this.buffer.splice(0);
    try {
      if (holder) this.writeAsHolder(group);
      else this.writeForeign(group);
    } catch (error) {
      // The cached chunks may hold what was not written: read them again from storage.
      this.chunks = new Map();
      this.order = [];
      this.keepUnwritten(group);
      throw error;
    } finally {
      if (holder && this.claimed.size === 0 && !this.closed) await this.lock.release();
    }
  }

  /** A group that could not be written goes back in front (tried again), still bounded by the limits. */
  private keepUnwritten(group: { record: OutboxRecord; bytes: number }[]): void {
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

  /** Not the lock holder: a chunk of its own; the holder enforces the limits later. */
  private writeForeign(group: readonly { record: OutboxRecord; bytes: number }[]): void {
    const entries = group.map(({ record, bytes }) => toEntry(record, bytes));
    const key = chunkKey(this.prefix, this.nextSeq(), this.writer);
    try {
      this.storage.setItem(key, serializeChunk(entries));
    } catch (error) {
      if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
      // Only the holder may remove older records; full means this group cannot be kept.
      this.options.logger.warn('localStorage is full; records dropped', { count: entries.length });
      this.drops.emit('overflow', entries.length);
    }
  }

  /** The lock holder: extends its open chunk, then enforces the limits over every chunk. */
  private writeAsHolder(group: readonly { record: OutboxRecord; bytes: number }[]): void {
    this.refresh(true);
    const totals = this.totals();
    const { maxEvents, maxBytes, overflow: mode } = this.limits;
    let overflow = 0;
    let chunk = this.openChunk === undefined ? undefined : this.chunks.get(this.openChunk);
    let chunkSize = chunk?.raw.length ?? 0;
    const dirty = new Set<Chunk>();
    const added: { chunk: Chunk; index: number }[] = [];
    for (const { record, bytes } of group) {
      if (mode === 'drop-newest' && (totals.events + 1 > maxEvents || totals.bytes + bytes > maxBytes)) {
        overflow++;
        continue;
      }
      // The stored size is estimated (a JSON-escaped record is a little longer than its JSON).
      const chars = record.json.length + record.uuid.length + 32;
      if (chunk === undefined || (chunkSize > 0 && chunkSize + chars > this.chunkChars)) {
        chunk = this.newChunk();
        chunkSize = 0;
      }
      added.push({ chunk, index: chunk.entries.length });
      chunk.entries.push(toEntry(record, bytes));
      chunkSize += chars;
      dirty.add(chunk);
      totals.events++;
      totals.bytes += bytes;
    }
    overflow += this.evictOldest(totals, (t) => t.events > maxEvents || t.bytes > maxBytes, dirty);
    this.drops.emit('overflow', overflow);
    // Shrunk chunks first: that frees room for the grown ones.
    const grown = new Set(added.map((a) => a.chunk));
    this.writeDirty(new Set([...dirty].filter((c) => !grown.has(c))), 'append');
    for (const target of grown)
      this.writeWithRoom(
        target,
        added.filter((a) => a.chunk === target),
      );
  }

  /** Writes a grown chunk; when storage is full, drops the oldest records and tries again. */
  private writeWithRoom(chunk: Chunk, added: readonly { index: number }[]): void {
    for (let attempt = 0; ; attempt++) {
      try {
        this.writeChunk(chunk);
        return;
      } catch (error) {
        if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
      }
      const dirty = new Set<Chunk>();
      let evicted = 0;
      if (this.limits.overflow === 'drop-oldest' && attempt < QUOTA_ATTEMPTS) {
        const totals = this.totals();
        const target = totals.events - added.length * 2 ** attempt;
        evicted = this.evictOldest(totals, (t) => t.events > target, dirty, chunk);
      }
      this.options.logger.warn('localStorage is full', { evicted, attempt });
      this.drops.emit('overflow', evicted);
      this.writeDirty(dirty, 'append');
      if (evicted === 0) {
        // Nothing older can go: the new records themselves are dropped.
        let dropped = 0;
        for (const { index } of added) {
          if (chunk.entries[index] !== null) dropped++;
          chunk.entries[index] = null;
        }
        this.drops.emit('overflow', dropped);
        try {
          this.writeChunk(chunk);
        } catch (error) {
          this.options.logger.error('could not restore a chunk after a full storage', { error });
        }
        return;
      }
    }
  }

  /** Marks the oldest unclaimed records gone until `over` is false; answers how many. */
  private evictOldest(
    totals: { events: number; bytes: number },
    over: (t: { events: number; bytes: number }) => boolean,
    dirty: Set<Chunk>,
    skipDirtyWrite?: Chunk,
  ): number {
    let evicted = 0;
    for (const key of this.order) {
      if (!over(totals)) break;
      const chunk = this.chunks.get(key)!;
      for (let index = 0; index < chunk.entries.length && over(totals); index++) {
        const entry = chunk.entries[index];
        if (entry === null || entry === undefined || this.claimedIds.has(`${key}#${index}`)) continue;
        chunk.entries[index] = null;
        totals.events--;
        totals.bytes -= entry.bytes;
        evicted++;
        if (chunk !== skipDirtyWrite) dirty.add(chunk);
      }
    }
    return evicted;
  }

  private totals(): { events: number; bytes: number } {
    let events = 0;
    let bytes = 0;
    for (const chunk of this.chunks.values()) {
      for (const e of chunk.entries) {
        if (e === null) continue;
        events++;
        bytes += e.bytes;
      }
    }
    return { events, bytes };
  }

  /**
   * Re-reads the chunks: keys that appeared or went away, and chunks whose text changed (another
   * tab held the lock meanwhile). Unchanged chunks are not parsed again. The holder deletes
   * damaged chunks and rewrites chunks with damaged entries, so each is counted once.
   */
  private refresh(holder: boolean): void {
    const start = `${this.prefix}c:`;
    const keys: string[] = [];
    for (let i = 0; i < this.storage.length; i++) {
      const key = this.storage.key(i);
      if (key !== null && key.startsWith(start)) keys.push(key);
    }
    keys.sort();
    const next = new Map<string, Chunk>();
    let corrupt = 0;
    for (const key of keys) {
      const raw = this.storage.getItem(key);
      if (raw === null) continue;
      const known = this.chunks.get(key);
      if (known !== undefined && known.raw === raw) {
        next.set(key, known);
        continue;
      }
      const parsed = parseChunk(key, raw);
      if (parsed === null) {
        if (holder) {
          corrupt++;
          this.storage.removeItem(key);
        }
        continue;
      }
      next.set(key, parsed.chunk);
      if (parsed.corrupt > 0 && holder) {
        corrupt += parsed.corrupt;
        this.writeChunkQuietly(parsed.chunk);
      }
    }
    this.chunks = next;
    this.order = [...next.keys()];
    if (this.openChunk !== undefined && !next.has(this.openChunk)) this.openChunk = undefined;
    this.drops.emit('corrupt', corrupt);
  }

  private newChunk(): Chunk {
    const last = this.order.at(-1);
    const seq = Math.max(this.nextSeq(), last === undefined ? 0 : chunkSeq(this.prefix, last) + 1);
    this.lastSeq = seq;
    const chunk: Chunk = { key: chunkKey(this.prefix, seq, this.writer), raw: '', entries: [] };
    this.chunks.set(chunk.key, chunk);
    this.order.push(chunk.key);
    this.openChunk = chunk.key;
    return chunk;
  }

  /** The next chunk sequence: a shared hint so chunks of later outboxes sort after earlier ones. */
  private nextSeq(): number {
    const stored = Number(this.storage.getItem(`${this.prefix}n`));
    const seq = Math.max(this.lastSeq + 1, Number.isSafeInteger(stored) ? stored : 0);
    this.lastSeq = seq;
    try {
      this.storage.setItem(`${this.prefix}n`, String(seq + 1));
    } catch {
      // Only a hint; a full storage is dealt with where the chunk is written.
    }
    return seq;
  }

  private writeChunk(chunk: Chunk): void {
    if (!isLive(chunk)) {
      this.storage.removeItem(chunk.key);
      this.chunks.delete(chunk.key);
      this.order = this.order.filter((k) => k !== chunk.key);
      if (this.openChunk === chunk.key) this.openChunk = undefined;
      return;
    }
    const raw = serializeChunk(chunk.entries);
    this.storage.setItem(chunk.key, raw);
    chunk.raw = raw;
  }

  private writeChunkQuietly(chunk: Chunk): void {
    try {
      this.writeChunk(chunk);
    } catch (error) {
      this.options.logger.warn('could not rewrite an outbox chunk', { key: chunk.key, error });
    }
  }

  /** Writes chunks that only lost records (they shrink, so a full storage cannot refuse them). */
  private writeDirty(dirty: ReadonlySet<Chunk>, operation: string): void {
    for (const chunk of dirty) {
      try {
        this.writeChunk(chunk);
      } catch (error) {
        throw new OutboxIoError(operation, { cause: error });
      }
    }
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
    this.refresh(true);
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
    const had = this.lock.held;
    const deadline = Date.now() + LOCK_WAIT_MS;
    while (!(await this.lock.acquire())) {
      if (Date.now() >= deadline) {
        throw new OutboxIoError(operation, { cause: new Error('another tab holds the outbox lock') });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    try {
      return fn();
    } finally {
      if (!had && this.claimed.size === 0) await this.lock.release();
    }
  }

  private leaseStore(): LeaseStore {
    const key = `${this.prefix}lease`;
    const read = (): { owner?: unknown; expiresAtMs?: unknown } | null => {
      try {
        return JSON.parse(this.storage.getItem(key) ?? 'null') as {
          owner?: unknown;
          expiresAtMs?: unknown;
        } | null;
      } catch {
        return null;
      }
    };
    return {
      take: async (owner, nowMs, expiresAtMs) => {
        const lease = read();
        const free =
          lease === null ||
          lease.owner === owner ||
          typeof lease.expiresAtMs !== 'number' ||
          lease.expiresAtMs <= nowMs;
        if (!free) return false;
        this.storage.setItem(key, JSON.stringify({ owner, expiresAtMs }));
        // Two tabs may both have seen it free: whoever wrote last holds it; look again a turn later.
        await new Promise((resolve) => setTimeout(resolve, 0));
        return read()?.owner === owner;
      },
      drop: async (owner) => {
        if (read()?.owner === owner) this.storage.removeItem(key);
      },
    };
  }

  private isExpired(timestampMs: number, nowMs: number): boolean {
    return this.limits.retentionMs > 0 && timestampMs < nowMs - this.limits.retentionMs;
  }
}

function toEntry(record: OutboxRecord, bytes: number): ChunkEntry {
  return { uuid: record.uuid, json: record.json, timestampMs: record.timestampMs, bytes };
}

function toRecord(entry: ChunkEntry): OutboxRecord {
  return { uuid: entry.uuid, json: entry.json, timestampMs: entry.timestampMs };
}

function defaultStorage(): StorageLike {
  try {
    const storage = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (storage !== undefined && storage !== null) return storage;
  } catch (error) {
    // Blocked storage throws on access (cookies disabled, sandboxed frames).
    throw new OutboxIoError('open', { cause: error });
  }
  throw new OutboxOptionError('storage', 'localStorage is not available here (pass a Storage)');
}

/** The localStorage outbox (browsers, when IndexedDB cannot be used). */
export function createLocalStorageOutbox(options: LocalStorageOutboxOptions = {}): LocalStorageOutbox {
  return new LocalStorageOutbox(options);
}
