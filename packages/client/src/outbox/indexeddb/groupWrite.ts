import type { OutboxLimits } from '../outbox.js';
import type { DropListeners } from '../records.js';
import type { Found } from './recordStore.js';
import { evictOldest, quiet, readTotals, writeTotals } from './recordStore.js';
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

export interface WriteContext {
  limits: OutboxLimits;
  claimed: ReadonlySet<number>;
  drops: DropListeners;
  report?: GroupReport;
  /**
   * Takes a group the origin's quota refused: it is held in memory and delivered from there
   * (`HeldInMemory`), never made room for by deleting stored records.
   */
  hold: (group: readonly Pending[], refusal: unknown) => void;
}

/**
 * Writes one group (`writeGroup`, which enforces the outbox's own limits), reporting its drops.
 * A group the origin's quota refuses goes to `hold`, under either overflow policy: the quota is
 * not the outbox's bound. The origin is full of the app's data (or the quota is smaller than the
 * limits), and deleting older stored records to make room would lose deliverable, durable events
 * while the outbox is within its limits (the app may take the freed room back at once, too).
 * Other failures reject as they are.
 */
export async function writeOrHold(
  db: OutboxDatabase,
  group: readonly Pending[],
  ctx: WriteContext,
): Promise<void> {
  const { limits, claimed, drops, report } = ctx;
  let outcome: GroupOutcome;
  try {
    outcome = await writeGroup(db, group, limits, claimed, report);
  } catch (error) {
    if (!isQuotaError(error)) throw error;
    // Said once by the holder, not at every group while the origin stays full.
    ctx.hold(group, error);
    return;
  }
  drops.emit('corrupt', outcome.corrupt);
  drops.emit('overflow', outcome.overflow);
}
