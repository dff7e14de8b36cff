import type { IDBPObjectStore, IDBPTransaction } from 'idb';
import { utf8Length } from '../records.js';
import { quiet } from './recordStore.js';
import type { OutboxDB } from './schema.js';
import { DEAD_LETTER_TOTALS_KEY, decodeDeadLetterTotals } from './schema.js';

/**
 * The dead letters' bytes, kept in `meta` by every transaction that changes the dead-letter
 * store, so that adding one enforces `maxDeadLetterBytes` without reading them all (up to 10 000).
 * The total is saved with the store's count and highest key, which together tell whether anything
 * was added or deleted since (keys are never reused): a store changed without the total (by an
 * older version of the outbox, in another tab or before this one existed) is counted again.
 */
export type DeadLettersTx = IDBPTransaction<OutboxDB, ('deadLetters' | 'meta')[], 'readwrite'>;
type DeadLettersStore = IDBPObjectStore<OutboxDB, ('deadLetters' | 'meta')[], 'deadLetters', 'readwrite'>;

export interface DeadLetterTotals {
  count: number;
  bytes: number;
}

/** How many values one `getAll` reads while counting the store again. */
const PAGE = 128;

const textBytes = (value: unknown): number => (typeof value === 'string' ? utf8Length(value) : 0);

/**
 * The bytes of a stored dead letter's event JSON: what one discarded counts, as for the
 * other outboxes (and the queue's overflow).
 */
export function deadLetterJsonBytes(value: unknown): number {
  return textBytes((value as { j?: unknown } | null)?.j);
}

/**
 * A stored dead letter's size, measured as the memory and localStorage outboxes measure theirs:
 * event JSON and reason, UTF-8. A damaged one counts the strings it still holds: the size depends
 * on the value alone, so it is the same whenever it is added, counted or deleted.
 */
export function deadLetterBytes(value: unknown): number {
  return deadLetterJsonBytes(value) + textBytes((value as { reason?: unknown } | null)?.reason);
}

async function lastKey(store: DeadLettersStore): Promise<number | null> {
  const cursor = await store.openKeyCursor(null, 'prev');
  return cursor === null ? null : cursor.key;
}

/** The store's count and bytes: the saved total while it still describes the store, else counted. */
export async function readDeadLetterTotals(tx: DeadLettersTx): Promise<DeadLetterTotals> {
  const store = tx.objectStore('deadLetters');
  const [value, count, last] = await Promise.all([
    tx.objectStore('meta').get(DEAD_LETTER_TOTALS_KEY),
    store.count(),
    lastKey(store),
  ]);
  const saved = decodeDeadLetterTotals(value);
  if (saved !== null && saved.count === count && saved.last === last) return { count, bytes: saved.bytes };
  let bytes = 0;
  let range: IDBKeyRange | null = null;
  for (;;) {
    const [keys, values] = await Promise.all([store.getAllKeys(range, PAGE), store.getAll(range, PAGE)]);
    for (const v of values) bytes += deadLetterBytes(v);
    if (keys.length < PAGE) return { count, bytes };
    range = IDBKeyRange.lowerBound(keys[keys.length - 1]!, true);
  }
}

/** Saves `bytes` as the total of the store as it is after this transaction's changes. */
export async function saveDeadLetterTotals(tx: DeadLettersTx, bytes: number): Promise<void> {
  const store = tx.objectStore('deadLetters');
  const [count, last] = await Promise.all([store.count(), lastKey(store)]);
  quiet(tx.objectStore('meta').put({ count, last, bytes: Math.max(0, bytes) }, DEAD_LETTER_TOTALS_KEY));
}

/**
 * Removes the total so the next transaction counts it again: over its quota, Chromium refuses
 * a transaction that writes anything, even a small put, but lets one that only deletes through.
 */
export function forgetDeadLetterTotals(tx: DeadLettersTx): void {
  quiet(tx.objectStore('meta').delete(DEAD_LETTER_TOTALS_KEY));
}
