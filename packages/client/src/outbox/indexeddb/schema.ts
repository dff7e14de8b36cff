import type { DBSchema, IDBPDatabase } from 'idb';
import { wrap } from 'idb';
import type { OutboxRecord } from '../outbox.js';

/**
 * The IndexedDB layout of one outbox (one database per outbox name, shared by every tab of
 * the origin):
 *
 * - `records`: pending records keyed by an auto-increment `s`, so key order is append order
 *   across tabs; the `t` index (event time) answers the oldest age and the retention sweep.
 * - `deadLetters`: auto-increment key, oldest first.
 * - `state`: the outbox's key/value state (`getState`/`setState`), values kept as JSON text.
 * - `meta`: the outbox's own bookkeeping: `totals` (events and bytes pending, kept in every
 *   write transaction so a tab never has to scan the store to enforce its limits),
 *   `deadLetterTotals` (the dead letters' bytes, likewise, see `deadLetterTotals.ts`) and `lease`
 *   (the delivery lease where the Web Locks API is missing).
 */
export const DB_VERSION = 1;

/** A stored record; short field names because there may be 100 000 of them. */
export interface StoredRecord {
  /** Sequence (the key; set by IndexedDB on add). */
  s?: number;
  /** uuid */
  u: string;
  /** JSON of the event */
  j: string;
  /** event time, ms */
  t: number;
  /** UTF-8 bytes of `j` */
  b: number;
}

export interface StoredDeadLetter {
  k?: number;
  u: string;
  j: string;
  t: number;
  reason: string;
  at: number;
}

export interface Totals {
  events: number;
  bytes: number;
}

/**
 * The dead letters' bytes, with the count and last key of the store they were counted from: a
 * store that no longer has that count and last key was changed without them.
 */
export interface StoredDeadLetterTotals {
  count: number;
  /** The highest key, or null when the store was empty. */
  last: number | null;
  bytes: number;
}

export interface Lease {
  owner: string;
  expiresAtMs: number;
}

export interface OutboxDB extends DBSchema {
  records: { key: number; value: StoredRecord; indexes: { t: number } };
  deadLetters: { key: number; value: StoredDeadLetter };
  state: { key: string; value: string };
  meta: { key: string; value: unknown };
}

export type OutboxDatabase = IDBPDatabase<OutboxDB>;

/**
 * Write transactions commit without waiting for the disk (Chromium's 'relaxed'): the data is
 * handed to the OS, like the file outbox's 'batch' durability. A tab or browser crash loses
 * nothing committed; a power loss can lose the last moments. 'strict' costs an fsync per
 * commit, which made a drain ~10x slower here.
 */
export const WRITE: IDBTransactionOptions = { durability: 'relaxed' };

export const TOTALS_KEY = 'totals';
export const DEAD_LETTER_TOTALS_KEY = 'deadLetterTotals';
export const LEASE_KEY = 'lease';

/** The database name of the outbox called `name`. */
export function databaseName(name: string): string {
  return `homing-outbox:${name}`;
}

/**
 * How long an open may take before it counts as failed, ms. Some never answer: Safari's that
 * never settles, an upgrade blocked by a connection that ignores `versionchange` (Homing's own
 * close at once, so an upgrade they block goes on within this time). Until the open answers,
 * nothing is stored or sent, and the browser outbox falls back to localStorage only once it fails.
 */
export const OPEN_TIMEOUT_MS = 5_000;

/**
 * Opens (creating or upgrading) the database through `factory`, so tests and pages can hand in
 * their own IDBFactory. `onVersionChange` runs when another tab wants a newer version (or to
 * delete the database): the connection must close or that tab stays blocked. Rejects when the
 * open has not answered within `timeoutMs` (a connection it opens later is closed at once).
 */
export async function openOutboxDatabase(
  factory: IDBFactory,
  name: string,
  onVersionChange: () => void,
  timeoutMs = OPEN_TIMEOUT_MS,
): Promise<OutboxDatabase> {
  const request = factory.open(databaseName(name), DB_VERSION);
  request.onupgradeneeded = () => {
    const db = request.result;
    if (!db.objectStoreNames.contains('records')) {
      const records = db.createObjectStore('records', { keyPath: 's', autoIncrement: true });
      records.createIndex('t', 't');
    }
    if (!db.objectStoreNames.contains('deadLetters')) {
      db.createObjectStore('deadLetters', { keyPath: 'k', autoIncrement: true });
    }
    if (!db.objectStoreNames.contains('state')) db.createObjectStore('state');
    if (!db.objectStoreNames.contains('meta')) db.createObjectStore('meta');
  };
  const opening = wrap(request) as unknown as Promise<OutboxDatabase>;
  // Not a failure by itself: the connections in the way are asked to close (`versionchange`).
  let blocked = false;
  request.addEventListener('blocked', () => {
    blocked = true;
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const why = blocked ? ' (blocked by another connection to it)' : '';
      reject(new DOMException(`IndexedDB did not open within ${timeoutMs} ms${why}`, 'TimeoutError'));
    }, timeoutMs);
    (timer as { unref?: () => void }).unref?.();
  });
  let db: OutboxDatabase;
  try {
    db = await Promise.race([opening, expired]);
  } catch (error) {
    // Given up: a connection that opens after all would hold the database for nothing (and block
    // another tab's upgrade or delete).
    opening.then(
      (late) => late.close(),
      () => undefined,
    );
    throw error;
  } finally {
    clearTimeout(timer);
  }
  db.addEventListener('versionchange', () => {
    db.close();
    onVersionChange();
  });
  return db;
}

/** The record a stored value holds, or null when it is damaged (then it is skipped and counted). */
export function decodeRecord(value: unknown): (OutboxRecord & { seq: number; bytes: number }) | null {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Partial<StoredRecord>;
  if (typeof v.s !== 'number' || typeof v.u !== 'string' || v.u.length === 0) return null;
  if (typeof v.j !== 'string' || typeof v.t !== 'number' || !Number.isFinite(v.t)) return null;
  if (typeof v.b !== 'number' || !Number.isSafeInteger(v.b) || v.b < 0) return null;
  return { uuid: v.u, json: v.j, timestampMs: v.t, seq: v.s, bytes: v.b };
}

export function decodeTotals(value: unknown): Totals | null {
  if (value === null || typeof value !== 'object') return null;
  const { events, bytes } = value as Partial<Totals>;
  if (typeof events !== 'number' || !Number.isSafeInteger(events) || events < 0) return null;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) return null;
  return { events, bytes };
}

export function decodeDeadLetterTotals(value: unknown): StoredDeadLetterTotals | null {
  if (value === null || typeof value !== 'object') return null;
  const { count, last, bytes } = value as Partial<StoredDeadLetterTotals>;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) return null;
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) return null;
  if (last !== null && typeof last !== 'number') return null;
  return { count, last, bytes };
}

export function decodeDeadLetter(
  value: unknown,
): { record: OutboxRecord; reason: string; deadLetteredAtMs: number; key: number } | null {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Partial<StoredDeadLetter>;
  if (typeof v.k !== 'number' || typeof v.u !== 'string' || typeof v.j !== 'string') return null;
  if (typeof v.t !== 'number' || typeof v.reason !== 'string' || typeof v.at !== 'number') return null;
  return {
    record: { uuid: v.u, json: v.j, timestampMs: v.t },
    reason: v.reason,
    deadLetteredAtMs: v.at,
    key: v.k,
  };
}

/** True for the storage-full error, by its standard DOMException name (never by message). */
export function isQuotaError(error: unknown): boolean {
  return (
    error !== null && typeof error === 'object' && (error as { name?: unknown }).name === 'QuotaExceededError'
  );
}
