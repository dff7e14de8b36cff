import type { OutboxDrop, OutboxRecord } from './outbox.js';

/**
 * Helpers every outbox shares (browser-safe): checking what `append` receives, UTF-8 sizes,
 * and drop listeners that cannot throw into the outbox.
 */

/** Most UTF-8 bytes of a record's uuid: the file outbox's frame has one byte for its length. */
export const MAX_UUID_BYTES = 255;

/**
 * The record as it will be stored, or null when it cannot be stored at all (not an object,
 * no uuid, `json` not a string). A missing or non-finite `timestampMs` is replaced by `nowMs`:
 * the event itself is fine, only its retention clock is unknown.
 */
export function normalizeRecord(value: unknown, nowMs: number): OutboxRecord | null {
  if (value === null || typeof value !== 'object') return null;
  const { uuid, json, timestampMs } = value as Partial<Record<keyof OutboxRecord, unknown>>;
  if (typeof uuid !== 'string' || uuid.length === 0 || uuid.length > 255) return null;
  if (typeof json !== 'string') return null;
  const ts = typeof timestampMs === 'number' && Number.isFinite(timestampMs) ? timestampMs : nowMs;
  // Records are readonly by contract, so a valid one is kept as is (no copy per event).
  if (ts === timestampMs) return value as OutboxRecord;
  return { uuid, json, timestampMs: ts };
}

/**
 * Whether `s` is over `bytes` in UTF-8: its length is a lower bound (a string this long is surely
 * over) and three times its length an upper bound (one this short surely is not); only in
 * between are the bytes counted.
 */
export function utf8LengthOver(s: string, bytes: number): boolean {
  if (s.length > bytes) return true;
  if (s.length * 3 <= bytes) return false;
  return utf8Length(s) > bytes;
}

/** UTF-8 byte length of a string without encoding it (lone surrogates count as U+FFFD, 3 bytes). */
const NON_ASCII = /[^\x00-\x7f]/;

export function utf8Length(s: string): number {
  // Most event JSON is ASCII: the regex engine answers that far faster than a char loop.
  if (!NON_ASCII.test(s)) return s.length;
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: 2 UTF-16 units, 4 UTF-8 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** A set of drop listeners; a listener that throws is ignored (it must never break the outbox). */
export class DropListeners {
  private readonly listeners = new Set<(drop: OutboxDrop) => void>();

  add(listener: (drop: OutboxDrop) => void): () => void {
    if (typeof listener !== 'function') return () => {};
    // Wrap so the same function added twice gets two subscriptions, each removable once.
    const entry = (drop: OutboxDrop): void => listener(drop);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  emit(reason: OutboxDrop['reason'], count: number, bytes?: number): void {
    if (count <= 0) return;
    const drop: OutboxDrop = bytes === undefined ? { reason, count } : { reason, count, bytes };
    for (const listener of [...this.listeners]) {
      try {
        listener(drop);
      } catch {
        // A listener's failure is its own; the outbox keeps going.
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}
