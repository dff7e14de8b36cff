import type { DropListeners } from '../records.js';
import type { StorageLike } from '../localStorage.js';
import type { Chunk, ChunkEntry } from './chunks.js';
import { chunkKey, chunkSeq, isLive, parseChunk, serializeChunk } from './chunks.js';

export interface Totals {
  events: number;
  bytes: number;
}

/** With `storage` events, how often the chunks are read again even without one, ms. */
export const CHUNK_RESCAN_MS = 1_000;

export interface ChunkWatch {
  /** `storage` events reach `changed()`: a refresh without one since the last read skips reading. */
  readonly eventDriven: boolean;
  readonly now: () => number;
}

/**
 * The chunks of one localStorage outbox as this tab last read them, and every change to them.
 * `refresh` re-reads what other tabs changed (comparing the stored text, parsing only what
 * differs); writes go through here so the cache and the storage stay the same.
 *
 * Reading every chunk key costs time in proportion to their number (a page tracking slowly
 * while the server is down writes one per group: 5 000 keys took 30-90 ms a read in Chromium),
 * so with `storage` events a refresh reads only after another tab changed a chunk, and once a
 * second anyway (other outboxes of the same page get no events). A cache older than the storage
 * is safe: a stored chunk never gains records (see `newChunk`).
 */
export class ChunkStore {
  private chunks = new Map<string, Chunk>();
  private order: string[] = [];
  private lastSeq = -1;
  /** Something changed the chunks behind this cache since it was last read. */
  private stale = true;
  private readAtMs = 0;

  constructor(
    private readonly storage: StorageLike,
    private readonly prefix: string,
    private readonly writer: string,
    private readonly drops: DropListeners,
    private readonly watch: ChunkWatch = { eventDriven: false, now: Date.now },
  ) {}

  /** Another tab wrote or removed a chunk (a `storage` event). */
  changed(): void {
    this.stale = true;
  }

  /**
   * Re-reads the chunks (see the class note for when it may skip). Only the lock holder
   * (`holder`) deletes damaged chunks and rewrites chunks with damaged entries, so each damage
   * is counted once.
   */
  refresh(holder: boolean): void {
    const nowMs = this.watch.now();
    if (
      this.watch.eventDriven &&
      !this.stale &&
      nowMs >= this.readAtMs &&
      nowMs - this.readAtMs < CHUNK_RESCAN_MS
    ) {
      return;
    }
    this.read(holder);
    this.stale = false;
    this.readAtMs = nowMs;
  }

  private read(holder: boolean): void {
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
        try {
          this.write(parsed.chunk);
        } catch {
          // Counted again next time; nothing is lost.
        }
      }
    }
    this.chunks = next;
    this.order = [...next.keys()];
    this.drops.emit('corrupt', corrupt);
  }

  /** Forgets the cache (after a failed write it may hold what storage does not). */
  invalidate(): void {
    this.chunks = new Map();
    this.order = [];
    this.stale = true;
  }

  /** Visits live entries oldest first until `visit` answers false. */
  forEach(visit: (chunk: Chunk, index: number, entry: ChunkEntry) => boolean): void {
    for (const key of this.order) {
      const chunk = this.chunks.get(key)!;
      for (let index = 0; index < chunk.entries.length; index++) {
        const entry = chunk.entries[index];
        if (entry !== null && entry !== undefined && !visit(chunk, index, entry)) return;
      }
    }
  }

  get(key: string): Chunk | undefined {
    return this.chunks.get(key);
  }

  /**
   * A new chunk of this outbox, after every chunk seen (not stored until written). A stored chunk
   * is never extended: another tab may hold an older copy of it (Chromium shows a tab another
   * tab's writes late), and a lock holder that rewrites it from that copy to mark records gone
   * would erase whatever was added since. Records only ever leave a stored chunk, so such a
   * rewrite can at worst bring back records already gone (sent again, deduped by uuid).
   */
  newChunk(): Chunk {
    const last = this.order.at(-1);
    const seq = Math.max(this.nextSeq(), last === undefined ? 0 : chunkSeq(this.prefix, last) + 1);
    this.lastSeq = seq;
    const chunk: Chunk = { key: chunkKey(this.prefix, seq, this.writer), raw: '', entries: [] };
    this.chunks.set(chunk.key, chunk);
    this.order.push(chunk.key);
    return chunk;
  }

  /** A chunk nobody else will extend (written by a tab that does not hold the lock). */
  writeNew(entries: readonly ChunkEntry[]): void {
    // Not in the cache: the next refresh reads it.
    this.stale = true;
    this.storage.setItem(chunkKey(this.prefix, this.nextSeq(), this.writer), serializeChunk(entries));
  }

  /** Stores a chunk (deleting it when nothing in it is live); throws the storage's error. */
  write(chunk: Chunk): void {
    if (!isLive(chunk)) {
      this.storage.removeItem(chunk.key);
      this.chunks.delete(chunk.key);
      // Chunks usually go oldest first, found at once; a filter copied all of `order` per chunk,
      // which an ack spanning hundreds of chunks of a long backlog paid hundreds of times.
      const at = this.order.indexOf(chunk.key);
      if (at >= 0) this.order.splice(at, 1);
      return;
    }
    const raw = serializeChunk(chunk.entries);
    this.storage.setItem(chunk.key, raw);
    chunk.raw = raw;
  }

  totals(): Totals {
    const totals = { events: 0, bytes: 0 };
    this.forEach((_chunk, _index, entry) => {
      totals.events++;
      totals.bytes += entry.bytes;
      return true;
    });
    return totals;
  }

  /** Marks the oldest unclaimed records gone until `over` is false; answers how many. */
  evictOldest(
    totals: Totals,
    over: (t: Totals) => boolean,
    isClaimed: (key: string, index: number) => boolean,
    dirty: Set<Chunk>,
  ): number {
    let evicted = 0;
    if (!over(totals)) return 0;
    this.forEach((chunk, index, entry) => {
      if (isClaimed(chunk.key, index)) return true;
      chunk.entries[index] = null;
      totals.events--;
      totals.bytes -= entry.bytes;
      evicted++;
      dirty.add(chunk);
      return over(totals);
    });
    return evicted;
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
}
