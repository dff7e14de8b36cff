import { StoreError } from './errors.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';

export interface OpenStoreOptions {
  /** `postgres://…` or `postgresql://…` for PostgreSQL; absent or empty for SQLite in dataDir. */
  databaseUrl?: string | undefined;
  /** Directory of the embedded SQLite database (`<dataDir>/homing.db`, and its ingest log `ingest-log.db`). */
  dataDir: string;
  /** Largest serialized `properties` of one event, characters (either store's option). Default 1 000 000. */
  maxPropertiesChars?: number;
  /**
   * PostgreSQL: called with a StoreError when background work fails (a second deletion after an
   * erasure; tried again a second later), so it can be logged; it never carries an event's
   * content or a distinct_id. Default: ignored.
   */
  onBackgroundError?: (error: StoreError) => void;
  /**
   * PostgreSQL: how long close() lets calls in flight finish before it cancels their statements
   * (the PostgresStore option of that name). Default 2000. SQLite: not used.
   */
  closeTimeoutMs?: number;
}

/**
 * Opens the store the options name, checks it answers, and applies pending migrations.
 * Throws a StoreError: `unsupported-url` for another scheme, `unreachable` when PostgreSQL
 * does not answer, `data-dir` when the SQLite directory or file is unusable.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl?.trim() ?? '';
  let store: Store;
  if (url === '') {
    store = new SqliteStore({
      dataDir: options.dataDir,
      ...(options.maxPropertiesChars === undefined ? {} : { maxPropertiesChars: options.maxPropertiesChars }),
    });
  } else {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
    if (scheme !== 'postgres' && scheme !== 'postgresql') {
      throw new StoreError(
        'unsupported-url',
        `unsupported database URL scheme ${scheme ? `"${scheme}:"` : '(none)'}; use postgres://user@host:5432/db, ` +
          'or leave --database / HOMING_DATABASE_URL unset to use SQLite in the data directory',
      );
    }
    store = new PostgresStore({
      url,
      ...(options.maxPropertiesChars === undefined ? {} : { maxPropertiesChars: options.maxPropertiesChars }),
      ...(options.onBackgroundError === undefined ? {} : { onBackgroundError: options.onBackgroundError }),
      ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
    });
  }
  try {
    await store.ping();
    await store.migrate();
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  return store;
}
