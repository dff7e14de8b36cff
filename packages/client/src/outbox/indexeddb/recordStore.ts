import type { IDBPObjectStore, IDBPTransaction } from 'idb';
import { OutboxIoError } from '../errors.js';
import { utf8Length } from '../records.js';
import type { OutboxDatabase, OutboxDB, StoredRecord, Totals } from './schema.js';
import { TOTALS_KEY, WRITE, decodeRecord, decodeTotals, isQuotaError } from './schema.js';

/**
 * The work done inside one transaction over `records` and `meta`: each function issues its
 * requests on the transaction it is given and keeps `totals` (events and bytes pending) exact,
 * so every tab enforces the same limits without scanning the store. Damaged values are deleted
 * where they are met and counted in `found.corrupt`.
 */
export type RecordsTx = IDBPTransaction<OutboxDB, ('records' | 'meta')[], 'readwrite'>;
type RecordsStore = IDBPObjectStore<OutboxDB, ('records' | 'meta')[], 'records', 'readwrite'>;

/** How many values one `getAll` reads while walking the store. */
const PAGE = 256;

export interface Found {
  corrupt: number;
}

/** A record as decoded from the store, with its key and UTF-8 size. */
export interface StoredEntry {
  readonly seq: number;
  readonly uuid: string;
  readonly json: string;
  readonly timestampMs: number;
  readonly bytes: number;
}

/** Requests whose failure the transaction reports anyway: keep their rejections quiet. */
export function quiet(request: Promise<unknown>): void {
  request.catch(() => undefined);
}

/** Reads the totals, or recounts them from the records when missing or damaged. */
export async function readTotals(tx: RecordsTx, found: Found): Promise<Totals> {
  const totals = decodeTotals(await tx.objectStore('meta').get(TOTALS_KEY));
  if (totals !== null) return totals;
  const fresh: Totals = { events: 0, bytes: 0 };
  await walk(tx.objectStore('records'), null, found, (entry) => {
    fresh.events++;
    fresh.bytes += entry.bytes;
    return true;
  });
  return fresh;
}

export function writeTotals(tx: RecordsTx, totals: Totals): void {
  quiet(
    tx
      .objectStore('meta')
      .put({ events: Math.max(0, totals.events), bytes: Math.max(0, totals.bytes) }, TOTALS_KEY),
  );
}

/** Decodes and checks one stored value; its byte count must match its JSON (a cheap integrity check). */
export function decodeEntry(key: IDBValidKey, value: unknown): StoredEntry | null {
  const rec = decodeRecord(value);
  if (rec === null || rec.seq !== key || rec.bytes !== utf8Length(rec.json)) return null;
  return rec;
}

/**
 * Visits records in key order after `after` (exclusive; null = from the start), a page at a
 * time, until `visit` answers false or the store ends. Damaged values are deleted and counted.
 */
export async function walk(
  store: RecordsStore,
  after: number | null,
  found: Found,
  visit: (entry: StoredEntry) => boolean,
  onCorrupt?: (key: IDBValidKey, value: unknown) => void,
  firstPage = PAGE,
): Promise<void> {
  let range: IDBKeyRange | null = after === null ? null : IDBKeyRange.lowerBound(after, true);
  // A claim of a few records should not read a full page of values it will not use.
  let page = Math.max(1, Math.min(PAGE, firstPage));
  for (;;) {
    const [keys, values] = await Promise.all([store.getAllKeys(range, page), store.getAll(range, page)]);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const entry = decodeEntry(key, values[i]);
      if (entry === null) {
        found.corrupt++;
        onCorrupt?.(key, values[i]);
        // A reader cannot delete; the next writer meets it again and does.
        if (store.transaction.mode === 'readwrite') quiet(store.delete(key));
        continue;
      }
      if (!visit(entry)) return;
    }
    if (keys.length < page) return;
    range = IDBKeyRange.lowerBound(keys[keys.length - 1]!, true);
    page = PAGE;
  }
}

/** What a damaged value still says about its size, to take it out of the totals. */
export function corruptBytes(value: unknown): number {
  const b = (value as Partial<StoredRecord> | null)?.b;
  return typeof b === 'number' && Number.isSafeInteger(b) && b > 0 ? b : 0;
}

/**
 * Deletes the oldest records not in `skip` until `over(totals)` is false; answers how many went.
 * Stops when only skipped (claimed) records are left.
 */
export async function evictOldest(
  tx: RecordsTx,
  totals: Totals,
  skip: ReadonlySet<number>,
  over: (totals: Totals) => boolean,
  found: Found,
): Promise<number> {
  if (!over(totals)) return 0;
  const store = tx.objectStore('records');
  let evicted = 0;
  await walk(
    store,
    null,
    found,
    (entry) => {
      if (skip.has(entry.seq)) return true;
      quiet(store.delete(entry.seq));
      totals.events--;
      totals.bytes -= entry.bytes;
      evicted++;
      return over(totals);
    },
    (_key, value) => {
      totals.events--;
      totals.bytes -= corruptBytes(value);
    },
  );
  return evicted;
}

/** Deletes the records with these keys that still exist; answers the entries deleted (by key). */
export async function deleteExisting(
  tx: RecordsTx,
  totals: Totals,
  entries: readonly { seq: number; bytes: number }[],
): Promise<number> {
  if (entries.length === 0) return 0;
  const store = tx.objectStore('records');
  let min = Infinity;
  let max = -Infinity;
  for (const e of entries) {
    if (e.seq < min) min = e.seq;
    if (e.seq > max) max = e.seq;
  }
  // Another tab may have dropped some (overflow, retention, consent): only what is left counts.
  const existing = await store.getAllKeys(IDBKeyRange.bound(min, max));
  const bySeq = new Map(entries.map((e) => [e.seq, e]));
  let deleted = 0;
  // One range delete per run of stored keys that are all ours (a batch is mostly one run).
  let runStart: number | undefined;
  let runEnd = 0;
  const flushRun = (): void => {
    if (runStart !== undefined) quiet(store.delete(IDBKeyRange.bound(runStart, runEnd)));
    runStart = undefined;
  };
  for (const key of existing) {
    const e = bySeq.get(key);
    if (e === undefined) {
      flushRun();
      continue;
    }
    runStart ??= key;
    runEnd = key;
    totals.events--;
    totals.bytes -= e.bytes;
    deleted++;
  }
  flushRun();
  return deleted;
}

/**
 * Removes the totals so the next transaction recounts them. Used instead of `writeTotals` when
 * the origin is over its quota: Chromium then refuses any transaction that writes, even a
 * small put, but lets one that only deletes through (and that frees the room).
 */
export function forgetTotals(tx: RecordsTx): void {
  quiet(tx.objectStore('meta').delete(TOTALS_KEY));
}

/**
 * Runs `body` in a transaction over records and meta, which `save`s the totals it changed. If
 * the origin is over its quota, runs it once more saving nothing (the totals are recounted
 * later): deleting must still work when storage is full, or the queue could never drain.
 * `body` must only change things through the transaction (it may run twice).
 */
export async function recordsTransaction<T>(
  db: OutboxDatabase,
  operation: string,
  body: (tx: RecordsTx, save: (totals: Totals) => void) => Promise<T>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const tx = db.transaction(['records', 'meta'], 'readwrite', WRITE);
    const done = tx.done;
    done.catch(() => undefined);
    const save = attempt === 0 ? (t: Totals) => writeTotals(tx, t) : () => forgetTotals(tx);
    try {
      const out = await body(tx, save);
      await done;
      return out;
    } catch (error) {
      try {
        tx.abort();
      } catch {
        // Already finished.
      }
      if (attempt === 0 && isQuotaError(error)) continue;
      throw new OutboxIoError(operation, { cause: error });
    }
  }
}
