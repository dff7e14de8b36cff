import { isExpired } from '../indexeddb/WriteBuffer.js';
import type { OutboxLimits } from '../outbox.js';
import type { Chunk } from './chunks.js';
import type { ChunkStore } from './ChunkStore.js';

export interface ChunkCount {
  readonly events: number;
  readonly bytes: number;
  readonly oldest: number | null;
  /** Records past retention marked gone (by the holder); their chunks are in `dirty`. */
  readonly expired: number;
  readonly dirty: Set<Chunk>;
}

/**
 * Counts the live records of the (refreshed) chunks for `size()`. The lock holder (`holder`)
 * marks the unclaimed ones past retention gone instead of counting them; the caller writes the
 * `dirty` chunks.
 */
export function countChunks(
  chunks: ChunkStore,
  holder: boolean,
  isClaimed: (key: string, index: number) => boolean,
  limits: OutboxLimits,
  nowMs: number,
): ChunkCount {
  const dirty = new Set<Chunk>();
  let events = 0;
  let bytes = 0;
  let oldest: number | null = null;
  let expired = 0;
  chunks.forEach((chunk, index, entry) => {
    // Only the lock holder may remove what aged out; the others just count it.
    if (holder && !isClaimed(chunk.key, index) && isExpired(limits, entry.timestampMs, nowMs)) {
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
  return { events, bytes, oldest, expired, dirty };
}
