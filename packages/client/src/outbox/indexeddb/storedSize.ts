import { OutboxIoError } from '../errors.js';
import type { OutboxRecord, OutboxSize } from '../outbox.js';
import type { Found, RecordsTx } from './recordStore.js';
import { corruptBytes, quiet, readTotals } from './recordStore.js';
import type { OutboxDatabase, Totals } from './schema.js';

/** What the store holds, as `size()` reads it (before adding what is in flight elsewhere). */
export interface StoredSize {
  readonly events: number;
  readonly bytes: number;
  /** The time of the oldest stored record, or null when there is none. */
  readonly oldestTimestampMs: number | null;
  readonly deadLetters: number;
}

/**
 * Deletes the records older than `cutoff` (exclusive; -Infinity: none) that are not in
 * `claimed`, inside one transaction over records and meta, and `save`s the totals when anything
 * went. Answers how many aged out, and the damaged values met reading the totals.
 */
export async function dropExpired(
  tx: RecordsTx,
  save: (totals: Totals) => void,
  cutoff: number,
  claimed: ReadonlySet<number>,
): Promise<{ expired: number; corrupt: number }> {
  const found: Found = { corrupt: 0 };
  const totals = await readTotals(tx, found);
  let n = 0;
  if (cutoff > -Infinity) {
    const byTime = tx.objectStore('records').index('t');
    let cursor = await byTime.openCursor(IDBKeyRange.upperBound(cutoff, true));
    while (cursor !== null) {
      if (!claimed.has(cursor.primaryKey)) {
        totals.events--;
        totals.bytes -= corruptBytes(cursor.value);
        quiet(cursor.delete());
        n++;
      }
      cursor = await cursor.continue();
    }
  }
  if (n > 0 || found.corrupt > 0) save(totals);
  return { expired: n, corrupt: found.corrupt };
}

/** Reads the totals, the oldest record's time and the dead-letter count in one read transaction. */
export async function readStoredSize(db: OutboxDatabase): Promise<StoredSize> {
  try {
    const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readonly');
    // A failed read aborts the transaction: `done` rejects too, and must not go unhandled.
    quiet(tx.done);
    const totals = await readTotals(tx as unknown as RecordsTx, { corrupt: 0 });
    const oldest = await tx.objectStore('records').index('t').openKeyCursor();
    const deadLetters = await tx.objectStore('deadLetters').count();
    return {
      events: Math.max(0, totals.events),
      bytes: Math.max(0, totals.bytes),
      oldestTimestampMs: oldest === null ? null : oldest.key,
      deadLetters,
    };
  } catch (error) {
    throw new OutboxIoError('size', { cause: error });
  }
}

/**
 * `size()`'s answer: what is stored, plus the records of batches in flight that a `clear()` took
 * (gone from the store already, in flight all the same until their batch settles).
 */
export function withClearedInFlight(
  stored: StoredSize,
  cleared: readonly { record: OutboxRecord; bytes: number }[],
): OutboxSize {
  let events = 0;
  let bytes = 0;
  let oldest: number | null = null;
  for (const { record, bytes: size } of cleared) {
    events++;
    bytes += size;
    if (oldest === null || record.timestampMs < oldest) oldest = record.timestampMs;
  }
  const oldestStored = stored.oldestTimestampMs;
  return {
    events: stored.events + events,
    bytes: stored.bytes + bytes,
    oldestTimestampMs:
      oldest === null || (oldestStored !== null && oldestStored <= oldest) ? oldestStored : oldest,
    deadLetters: stored.deadLetters,
  };
}
