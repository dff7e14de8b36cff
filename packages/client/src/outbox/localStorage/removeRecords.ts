import { writeShrunk } from './appendAsHolder.js';
import type { Chunk } from './chunks.js';
import type { ChunkStore } from './ChunkStore.js';
import type { Held } from './HeldClaims.js';

/**
 * Marks claimed records gone in their chunks (checking the uuid: another holder may have
 * rewritten it) and writes those chunks. Only the lock holder calls it.
 */
export function removeHeld(chunks: ChunkStore, held: readonly Held[], operation: string): void {
  if (held.length === 0) return;
  chunks.refresh(true);
  const dirty = new Set<Chunk>();
  for (const h of held) {
    const chunk = chunks.get(h.key);
    const entry = chunk?.entries[h.index];
    if (chunk === undefined || entry === null || entry === undefined || entry.uuid !== h.record.uuid)
      continue;
    chunk.entries[h.index] = null;
    dirty.add(chunk);
  }
  writeShrunk(chunks, dirty, operation);
}

/**
 * `clear()` as the lock holder: marks every record gone and writes the chunks. Answers how
 * many were pending (not claimed).
 */
export function clearChunks(chunks: ChunkStore, isClaimed: (key: string, index: number) => boolean): number {
  chunks.refresh(true);
  const dirty = new Set<Chunk>();
  let n = 0;
  chunks.forEach((chunk, index) => {
    // Records of batches in flight go now too, not when the batch settles: claims live in
    // memory, so a page closed (or frozen past its lease) before that left them to the next
    // holder, which sent them after consent was withdrawn. Their ack then removes nothing,
    // their release or a close counts them (consent); only the pending ones are answered.
    if (!isClaimed(chunk.key, index)) n++;
    chunk.entries[index] = null;
    dirty.add(chunk);
    return true;
  });
  writeShrunk(chunks, dirty, 'clear');
  return n;
}
