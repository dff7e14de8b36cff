import type { Logger } from '../../logger.js';
import type { OutboxLimits } from '../outbox.js';
import type { DropListeners } from '../records.js';
import type { Found, RecordsTx } from './recordStore.js';
import { evictOldest, forgetTotals, quiet, readTotals, writeTotals } from './recordStore.js';
import type { OutboxDatabase, Totals } from './schema.js';
import { WRITE, isQuotaError } from './schema.js';
import type { Pending } from './WriteBuffer.js';

export interface GroupOutcome {
  overflow: number;
  corrupt: number;
}

/** Told, once a group is committed, the key each record got, and which were dropped instead. */
export interface GroupReport {
  stored(pending: Pending, seq: number): void;
  skipped(pending: Pending): void;
}

/**
 * Writes one group in one transaction: the records are added, then the limits are enforced
 * against the totals kept in the database (so every tab's appends count), dropping the oldest
 * unclaimed records or (drop-newest) the group's own. Rejects with the transaction's error
 * (QuotaExceededError included) and then nothing was written.
 */
export async function writeGroup(
  db: OutboxDatabase,
  group: readonly Pending[],
  limits: OutboxLimits,
  claimed: ReadonlySet<number>,
  report?: GroupReport,
): Promise<GroupOutcome> {
  const tx = db.transaction(['records', 'meta'], 'readwrite', WRITE);
  const keys: [Pending, Promise<number>][] = [];
  const skipped: Pending[] = [];
  const done = tx.done;
  done.catch(() => undefined);
  const found: Found = { corrupt: 0 };
  let overflow = 0;
  try {
    const totals = await readTotals(tx, found);
    const store = tx.objectStore('records');
    const { maxEvents, maxBytes } = limits;
    for (const pending of group) {
      const { record, bytes } = pending;
      if (
        limits.overflow === 'drop-newest' &&
        (totals.events + 1 > maxEvents || totals.bytes + bytes > maxBytes)
      ) {
        overflow++;
        skipped.push(pending);
        continue;
      }
      const key = store.add({ u: record.uuid, j: record.json, t: record.timestampMs, b: bytes });
      quiet(key);
      keys.push([pending, key]);
      totals.events++;
      totals.bytes += bytes;
    }
    const over = (t: Totals): boolean => t.events > maxEvents || t.bytes > maxBytes;
    overflow += await evictOldest(tx, totals, claimed, over, found);
    writeTotals(tx, totals);
  } catch (error) {
    abortQuietly(tx);
    await done.catch(() => undefined);
    throw error;
  }
  await done;
  // Only now: a key read before the commit may belong to a transaction that then aborted.
  if (report !== undefined) {
    for (const [pending, key] of keys) report.stored(pending, await key);
    for (const pending of skipped) report.skipped(pending);
  }
  return { overflow, corrupt: found.corrupt };
}

/**
 * The origin's storage is full: deletes up to `count` of the oldest unclaimed records in a
 * transaction that only deletes (the one kind Chromium still allows over quota).
 */
export async function evictForQuota(
  db: OutboxDatabase,
  count: number,
  claimed: ReadonlySet<number>,
): Promise<GroupOutcome> {
  const tx: RecordsTx = db.transaction(['records', 'meta'], 'readwrite', WRITE);
  // A failed step aborts the transaction: `done` rejects too, and must not go unhandled.
  quiet(tx.done);
  const found: Found = { corrupt: 0 };
  const totals = await readTotals(tx, found);
  const target = totals.events - count;
  const evicted = await evictOldest(tx, totals, claimed, (t) => t.events > target, found);
  forgetTotals(tx);
  await tx.done;
  return { overflow: evicted, corrupt: found.corrupt };
}

/** Aborts a transaction that may already have finished (then abort would throw). */
export function abortQuietly(tx: { abort(): void; readonly done?: Promise<unknown> }): void {
  // An abort rejects `done`, which a caller that failed before awaiting it never handles.
  tx.done?.catch(() => undefined);
  try {
    tx.abort();
  } catch {
    // Already committed or aborted.
  }
}

/** Rounds of "evict the oldest, try again" when a group hits the quota, before the group is dropped. */
const QUOTA_ATTEMPTS = 4;

export interface WriteContext {
  limits: OutboxLimits;
  claimed: ReadonlySet<number>;
  drops: DropListeners;
  logger: Logger;
  report?: GroupReport;
  /**
   * Takes a group the origin's quota refused when nothing older could go (or with drop-newest):
   * the space is the app's own, and the page may still deliver them (`HeldInMemory`).
   */
  hold: (group: readonly Pending[], refusal: unknown) => void;
}

/**
 * Writes one group (`writeGroup`), reporting its drops. When the origin is full, the oldest
 * records make room, counted as overflow, doubling each round; when nothing older can go (or
 * with drop-newest) the group is handed to `hold`. Other failures reject as they are.
 */
export async function writeWithRoom(
  db: OutboxDatabase,
  group: readonly Pending[],
  ctx: WriteContext,
): Promise<void> {
  const { limits, claimed, drops, logger, report } = ctx;
  for (let attempt = 0; ; attempt++) {
    let refusal: unknown;
    try {
      const outcome = await writeGroup(db, group, limits, claimed, report);
      drops.emit('corrupt', outcome.corrupt);
      drops.emit('overflow', outcome.overflow);
      return;
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      refusal = error;
    }
    let evicted = 0;
    if (limits.overflow === 'drop-oldest' && attempt < QUOTA_ATTEMPTS) {
      try {
        const outcome = await evictForQuota(db, group.length * 2 ** attempt, claimed);
        evicted = outcome.overflow;
        drops.emit('corrupt', outcome.corrupt);
        drops.emit('overflow', evicted);
      } catch (error) {
        logger.error('could not make room in IndexedDB', { error });
      }
    }
    if (evicted === 0) {
      // Said once by the holder, not at every group while the origin stays full.
      ctx.hold(group, refusal);
      return;
    }
    logger.warn('IndexedDB quota reached', { evicted, attempt });
  }
}
