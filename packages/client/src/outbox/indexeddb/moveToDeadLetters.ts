import { OutboxIoError } from '../errors.js';
import type { OutboxRecord } from '../outbox.js';
import type { DeadLetterStore, Discarded } from './deadLetterStore.js';
import type { DeadLettersTx } from './deadLetterTotals.js';
import { abortQuietly } from './groupWrite.js';
import type { RecordsTx } from './recordStore.js';
import { deleteExisting, readTotals, writeTotals } from './recordStore.js';
import type { OutboxDatabase } from './schema.js';
import { WRITE } from './schema.js';
import type { StoredClaim } from './UnloadBatches.js';

export interface DeadLetterMove {
  /** The stored records the moved ones were (deleted from the queue where they still exist). */
  readonly stored: readonly StoredClaim[];
  /** The records kept as dead letters (those a clear took are left out: dropped). */
  readonly dead: readonly OutboxRecord[];
  readonly reason: string;
  /** The clock; its time is each dead letter's `deadLetteredAtMs`. */
  readonly now: () => number;
}

/**
 * Moves claimed records to the dead-letter store in one transaction: they leave the queue and
 * become dead letters together, or (on failure, an OutboxIoError) stay pending and are tried
 * again. Answers how many became dead letters (not those that were already: see
 * `DeadLetterStore.add`), and the oldest discarded past `maxDeadLetters` or `maxDeadLetterBytes`.
 */
export async function moveToDeadLetters(
  db: OutboxDatabase,
  deadLetters: DeadLetterStore,
  move: DeadLetterMove,
): Promise<{ added: number } & Discarded> {
  const tx = db.transaction(['records', 'meta', 'deadLetters'], 'readwrite', WRITE);
  const rtx = tx as unknown as RecordsTx;
  try {
    const totals = await readTotals(rtx, { corrupt: 0 });
    await deleteExisting(rtx, totals, move.stored);
    writeTotals(rtx, totals);
    const at = move.now();
    const discarded = await deadLetters.add(tx as unknown as DeadLettersTx, move.dead, move.reason, at);
    await tx.done;
    return discarded;
  } catch (error) {
    abortQuietly(tx);
    // Not moved: the records stay pending and are tried again.
    throw new OutboxIoError('deadLetter', { cause: error });
  }
}
