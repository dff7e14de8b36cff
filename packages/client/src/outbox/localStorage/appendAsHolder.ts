import type { Logger } from '../../logger.js';
import { OutboxIoError } from '../errors.js';
import type { Pending } from '../indexeddb/WriteBuffer.js';
import type { OutboxLimits } from '../outbox.js';
import type { DropListeners } from '../records.js';
import type { Chunk, ChunkEntry } from './chunks.js';
import { isStorageFull } from './chunks.js';
import type { ChunkStore, Totals } from './ChunkStore.js';

export interface HolderAppendContext {
  limits: OutboxLimits;
  chunkChars: number;
  isClaimed: (key: string, index: number) => boolean;
  drops: DropListeners;
  logger: Logger;
  /**
   * The caller keeps the group's records that are not stored (a replay leaves them dead
   * letters): they are not counted as dropped. Default false.
   */
  keepsRefused?: boolean;
}

/** Rounds of "drop the oldest, try again" on a full storage before the group itself is dropped. */
const QUOTA_ATTEMPTS = 4;

/**
 * One group written by the lock holder: it goes into new chunks (one per `chunkChars`, so a
 * write costs the group, not the queue), then enforces the limits over every tab's chunks,
 * dropping the oldest unclaimed records (or, drop-newest, the group's own).
 * A full storage drops the oldest too, counted as overflow. Answers the records of the group
 * that were stored (not dropped under drop-newest, nor for a storage with no room left).
 */
export function appendAsHolder(
  chunks: ChunkStore,
  group: readonly Pending[],
  ctx: HolderAppendContext,
): Set<Pending> {
  const { limits, drops } = ctx;
  chunks.refresh(true);
  const totals = chunks.totals();
  let overflow = 0;
  let refused = 0;
  // New chunks only, never a stored one extended (see `ChunkStore.newChunk`).
  let chunk: Chunk | undefined;
  let chunkSize = 0;
  const added: { chunk: Chunk; index: number; pending: Pending }[] = [];
  const over = (t: Totals): boolean => t.events > limits.maxEvents || t.bytes > limits.maxBytes;
  for (const pending of group) {
    const { record, bytes } = pending;
    if (
      limits.overflow === 'drop-newest' &&
      over({ events: totals.events + 1, bytes: totals.bytes + bytes })
    ) {
      refused++;
      continue;
    }
    // The stored size is estimated (a JSON-escaped record is a little longer than its JSON).
    const chars = record.json.length + record.uuid.length + 32;
    if (chunk === undefined || (chunkSize > 0 && chunkSize + chars > ctx.chunkChars)) {
      chunk = chunks.newChunk();
      chunkSize = 0;
    }
    added.push({ chunk, index: chunk.entries.length, pending });
    const entry: ChunkEntry = {
      uuid: record.uuid,
      json: record.json,
      timestampMs: record.timestampMs,
      bytes,
    };
    chunk.entries.push(entry);
    chunkSize += chars;
    totals.events++;
    totals.bytes += bytes;
  }
  const dirty = new Set<Chunk>();
  overflow += chunks.evictOldest(totals, over, ctx.isClaimed, dirty);
  drops.emit('overflow', overflow + (ctx.keepsRefused ? 0 : refused));
  // Shrunk chunks first: that frees room for the grown ones.
  const grown = new Set(added.map((a) => a.chunk));
  writeShrunk(
    chunks,
    [...dirty].filter((c) => !grown.has(c)),
  );
  const stored = new Set<Pending>();
  for (const target of grown) {
    const into = added.filter((a) => a.chunk === target);
    if (writeWithRoom(chunks, target, into, ctx)) for (const a of into) stored.add(a.pending);
  }
  return stored;
}

/** Writes chunks that only lost records (they shrink, so a full storage does not refuse them). */
export function writeShrunk(chunks: ChunkStore, dirty: Iterable<Chunk>, operation = 'append'): void {
  for (const chunk of dirty) {
    try {
      chunks.write(chunk);
    } catch (error) {
      throw new OutboxIoError(operation, { cause: error });
    }
  }
}

/**
 * Writes a grown chunk; when storage is full, drops the oldest records and tries again. Answers
 * false when the added records were dropped instead.
 */
function writeWithRoom(
  chunks: ChunkStore,
  chunk: Chunk,
  added: readonly { index: number }[],
  ctx: HolderAppendContext,
): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      chunks.write(chunk);
      return true;
    } catch (error) {
      if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
    }
    const dirty = new Set<Chunk>();
    let evicted = 0;
    if (ctx.limits.overflow === 'drop-oldest' && attempt < QUOTA_ATTEMPTS) {
      const totals = chunks.totals();
      const target = totals.events - added.length * 2 ** attempt;
      evicted = chunks.evictOldest(totals, (t) => t.events > target, ctx.isClaimed, dirty);
    }
    ctx.logger.warn('localStorage is full', { evicted, attempt });
    ctx.drops.emit('overflow', evicted);
    dirty.delete(chunk);
    writeShrunk(chunks, dirty);
    if (evicted === 0) {
      // Nothing older can go: the new records themselves are dropped, counted.
      let dropped = 0;
      for (const { index } of added) {
        if (chunk.entries[index] !== null) dropped++;
        chunk.entries[index] = null;
      }
      if (!ctx.keepsRefused) ctx.drops.emit('overflow', dropped);
      try {
        chunks.write(chunk);
      } catch (error) {
        ctx.logger.error('could not restore a chunk after a full storage', { error });
      }
      return false;
    }
  }
}
