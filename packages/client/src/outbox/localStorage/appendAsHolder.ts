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
  /**
   * Takes the records a full storage refused (under either overflow policy: the quota is not
   * the outbox's bound, so no stored record is removed to make room for them); the page may
   * still deliver them (`HeldInMemory`). Without it (or with `keepsRefused`) they are not
   * stored, and counted dropped unless `keepsRefused`.
   */
  hold?: (group: readonly Pending[], refusal: unknown) => void;
}

/**
 * One group written by the lock holder: it goes into new chunks (one per `chunkChars`, so a
 * write costs the group, not the queue), then enforces the limits over every tab's chunks,
 * dropping the oldest unclaimed records (or, drop-newest, the group's own).
 * A full storage removes nothing for room: the chunk refused and every later one of the group go
 * to `hold`, in order. Answers the records of the group that were stored (not dropped under
 * drop-newest, nor refused by a full storage).
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
  const grown = new Set(added.map((a) => a.chunk));
  if (ctx.keepsRefused === true) {
    // What the storage refuses stays with the caller (dead letters), so no stored record goes
    // for the limits before it is known what was stored: the group first, then the limits over
    // what it stored (a refused chunk left the cache). Without the room the shrunk chunks would
    // have freed first, a replay near the quota may be refused where it could have fit: those
    // stay dead letters, to be replayed again.
    const stored = writeGrown(chunks, grown, added, ctx);
    overflow += chunks.evictOldest(chunks.totals(), over, ctx.isClaimed, dirty);
    drops.emit('overflow', overflow);
    writeShrunk(chunks, dirty);
    return stored;
  }
  overflow += chunks.evictOldest(totals, over, ctx.isClaimed, dirty);
  drops.emit('overflow', overflow + refused);
  // Shrunk chunks first: that frees room for the grown ones.
  writeShrunk(
    chunks,
    [...dirty].filter((c) => !grown.has(c)),
  );
  return writeGrown(chunks, grown, added, ctx);
}

/** Writes the group's new chunks in order; once one is refused, the later ones are held too. */
function writeGrown(
  chunks: ChunkStore,
  grown: ReadonlySet<Chunk>,
  added: readonly { chunk: Chunk; index: number; pending: Pending }[],
  ctx: HolderAppendContext,
): Set<Pending> {
  const stored = new Set<Pending>();
  // Once a chunk is held, the later ones are too (not tried): held records are delivered after
  // the stored ones, so a later chunk stored would go out before the earlier held one.
  let holding = false;
  for (const target of grown) {
    const into = added.filter((a) => a.chunk === target);
    if (holding) {
      ctx.hold!(unwrite(chunks, target, into, ctx.logger), undefined);
      continue;
    }
    const outcome = writeOrRefuse(chunks, target, into, ctx);
    if (outcome === 'stored') for (const a of into) stored.add(a.pending);
    else if (outcome === 'held') holding = true;
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
 * Writes a grown chunk. When the storage is full, the added records are handed to `hold`
 * ('held'), or not stored ('dropped', counted unless the caller keeps them). Nothing stored is
 * removed to make room: the origin's quota is not the outbox's bound (the limits are, enforced
 * above), and those are deliverable, durable records (other tabs' chunks among them), while the
 * space is most likely the app's, which it may take back at once.
 */
function writeOrRefuse(
  chunks: ChunkStore,
  chunk: Chunk,
  added: readonly { index: number; pending: Pending }[],
  ctx: HolderAppendContext,
): 'stored' | 'held' | 'dropped' {
  let refusal: unknown;
  try {
    chunks.write(chunk);
    return 'stored';
  } catch (error) {
    if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
    refusal = error;
  }
  const refused = unwrite(chunks, chunk, added, ctx.logger);
  const hold = ctx.keepsRefused === true ? undefined : ctx.hold;
  if (hold !== undefined) {
    // The tier says it once per episode, not at every group while the origin stays full.
    hold(refused, refusal);
    return 'held';
  }
  ctx.logger.warn('localStorage is full', { refused: refused.length });
  if (!ctx.keepsRefused) ctx.drops.emit('overflow', refused.length);
  return 'dropped';
}

/**
 * Takes the added records out of a chunk not stored (marked gone: nothing else in it is live, so
 * it leaves the cache and the storage); answers those not dropped meanwhile, in order.
 */
function unwrite(
  chunks: ChunkStore,
  chunk: Chunk,
  added: readonly { index: number; pending: Pending }[],
  logger: Logger,
): Pending[] {
  const refused: Pending[] = [];
  for (const { index, pending } of added) {
    if (chunk.entries[index] !== null) refused.push(pending);
    chunk.entries[index] = null;
  }
  try {
    chunks.write(chunk);
  } catch (error) {
    logger.error('could not restore a chunk after a full storage', { error });
  }
  return refused;
}
