import { isExpired } from '../indexeddb/WriteBuffer.js';
import type { OutboxLimits, OutboxRecord } from '../outbox.js';
import type { Chunk, ChunkEntry } from './chunks.js';
import type { ChunkStore } from './ChunkStore.js';
import type { Held, HeldClaims } from './HeldClaims.js';

export interface ChunkClaimRequest {
  readonly maxEvents: number;
  readonly maxBytes: number;
  /** A first record over `maxBytes` is taken alone (`claim`); otherwise such a record is passed over. */
  readonly atLeastOne: boolean;
  /** Whether this tab holds the delivery lock: only the holder removes what aged out. */
  readonly holder: boolean;
  readonly nowMs: number;
  readonly limits: OutboxLimits;
}

export interface ChunkClaim {
  /** The records taken, each marked claimed already. */
  readonly taken: Held[];
  readonly bytes: number;
  /** Records past retention marked gone (by the holder); their chunks are in `dirty`. */
  readonly expired: number;
  readonly dirty: Set<Chunk>;
}

/**
 * The oldest unclaimed records in the (refreshed) chunks within the limits, read oldest first
 * and marked claimed in `claims` as they are taken. The caller writes the `dirty` chunks.
 */
export function claimChunks(chunks: ChunkStore, claims: HeldClaims, request: ChunkClaimRequest): ChunkClaim {
  const { maxEvents, maxBytes, atLeastOne, holder, nowMs, limits } = request;
  const taken: Held[] = [];
  const dirty = new Set<Chunk>();
  let bytes = 0;
  let expired = 0;
  chunks.forEach((chunk, index, entry) => {
    if (claims.isClaimed(chunk.key, index)) return true;
    if (isExpired(limits, entry.timestampMs, nowMs)) {
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
    claims.mark(chunk.key, index);
    taken.push({ key: chunk.key, index, record: toRecord(entry), bytes: entry.bytes, epoch: claims.epoch });
    bytes += entry.bytes;
    return taken.length < maxEvents;
  });
  return { taken, bytes, expired, dirty };
}

function toRecord(entry: ChunkEntry): OutboxRecord {
  return { uuid: entry.uuid, json: entry.json, timestampMs: entry.timestampMs };
}
