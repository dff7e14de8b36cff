import { isJsonText } from '../jsonText.js';
import { utf8Length } from '../records.js';

/**
 * How the localStorage outbox lays records out: a few keys per outbox under one prefix,
 *
 *   <prefix>c:<seq>:<tab>   a chunk: JSON array of [uuid, json, timestampMs] or 0 (gone)
 *   <prefix>n               the next chunk sequence (a hint for ordering, not a lock)
 *   <prefix>dl              dead letters: JSON array of [uuid, json, timestampMs, reason, atMs]
 *   <prefix>s:<key>         one state value (JSON)
 *   <prefix>lease           the delivery lease where Web Locks are missing
 *
 * Records are chunked so an append writes its group as new chunks, not the queue. A stored
 * chunk is never extended (another tab may rewrite it from an older copy: see
 * `ChunkStore.newChunk`). Removed records become 0 in place, so a record's (chunk, index) never
 * changes while it is claimed; a chunk whose records are all gone is deleted.
 */
export interface ChunkEntry {
  readonly uuid: string;
  readonly json: string;
  readonly timestampMs: number;
  readonly bytes: number;
}

export interface Chunk {
  readonly key: string;
  /** The stored text this was parsed from (to notice changes by another tab). */
  raw: string;
  /** null where a record is gone (acked, dropped, damaged). */
  entries: (ChunkEntry | null)[];
}

export function keyPrefix(name: string): string {
  return `homing-outbox:${name}:`;
}

/** Chunk keys sort in append order: a zero-padded sequence, then the writer's id. */
export function chunkKey(prefix: string, seq: number, writer: string): string {
  return `${prefix}c:${seq.toString(36).padStart(10, '0')}:${writer}`;
}

export function chunkSeq(prefix: string, key: string): number {
  const seq = parseInt(key.slice(prefix.length + 2, prefix.length + 12), 36);
  return Number.isSafeInteger(seq) ? seq : 0;
}

/**
 * Parses a stored chunk; damaged entries (a `json` that does not parse among them) become null
 * and are counted. A chunk that is not a JSON array at all answers null (the whole chunk is
 * damaged). Each chunk is parsed once per change (`ChunkStore` keeps the parsed copy).
 */
export function parseChunk(key: string, raw: string): { chunk: Chunk; corrupt: number } | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!Array.isArray(value)) return null;
  let corrupt = 0;
  const entries: (ChunkEntry | null)[] = value.map((item: unknown) => {
    if (item === 0) return null;
    if (!Array.isArray(item)) {
      corrupt++;
      return null;
    }
    const [uuid, json, timestampMs] = item as unknown[];
    if (typeof uuid !== 'string' || uuid.length === 0 || typeof json !== 'string' || !isJsonText(json)) {
      corrupt++;
      return null;
    }
    if (typeof timestampMs !== 'number' || !Number.isFinite(timestampMs)) {
      corrupt++;
      return null;
    }
    return { uuid, json, timestampMs, bytes: utf8Length(json) };
  });
  return { chunk: { key, raw, entries }, corrupt };
}

export function serializeChunk(entries: readonly (ChunkEntry | null)[]): string {
  let out = '[';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (i > 0) out += ',';
    out += e === null || e === undefined ? '0' : JSON.stringify([e.uuid, e.json, e.timestampMs]);
  }
  return `${out}]`;
}

export function isLive(chunk: Chunk): boolean {
  return chunk.entries.some((e) => e !== null);
}

/** True for the storage-full error of any browser, by name or legacy code (never by message). */
export function isStorageFull(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return (
    name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED' || code === 22 || code === 1014
  );
}
