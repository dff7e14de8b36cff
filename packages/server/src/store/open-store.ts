import { StoreError } from './errors.js';
import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { Store } from './store.js';
import type { StoreNotice } from './sqlite-backlog-notice.js';

export interface OpenStoreOptions {
  /** `postgres://…` or `postgresql://…` for PostgreSQL; absent or empty for SQLite in dataDir. */
  databaseUrl?: string | undefined;
  /** Directory of the embedded SQLite database (`<dataDir>/homing.db`, and its ingest log `ingest-log.db`). */
  dataDir: string;
  /** Largest serialized `properties` of one event, characters (either store's option). Default 1 000 000. */
  maxPropertiesChars?: number;
  /**
   * Called with a StoreError when background work fails, so it can be logged; its message never
   * carries an event's content or a distinct_id. PostgreSQL: a second deletion after an erasure
   * (tried again a second later). SQLite: expanding the ingest log into the events table, or
   * trimming it (tried again after `expandRetryMs`). Default: ignored.
   */
  onBackgroundError?: (error: StoreError) => void;
  /**
   * PostgreSQL: how long close() lets calls in flight finish before it cancels their statements
   * (the PostgresStore option of that name). Default 2000. SQLite: not used.
   */
  closeTimeoutMs?: number;
  /**
   * SQLite: open the projects table only, for admin commands beside a running server (see the
   * SqliteStore option `projectsOnly`): no expander worker, the server's backlog is left to it,
   * close() at once. Event calls are refused. PostgreSQL: not used. Default false.
   */
  projectsOnly?: boolean;
  /**
   * SQLite: the longest close() expands the ingest log before leaving the rest for the next
   * start, ms (the SqliteStore option of that name). Default 10 000. PostgreSQL: not used.
   */
  closeExpandBudgetMs?: number;
  /** SQLite: the SqliteStore options of these names (a small data disk lowers both). PostgreSQL: not used. */
  maxPendingEvents?: number;
  walAutocheckpointPages?: number;
  /** SQLite: the page cache of each connection to homing.db, MiB (SqliteStore's option). PostgreSQL: not used. */
  cacheSizeMiB?: number;
  /**
   * SQLite: called by close() when that budget ran out with events still in the log, with their
   * number (-1: not known), so it can be logged. PostgreSQL: never called.
   */
  onClosedWithBacklog?: (events: number) => void;
  /**
   * SQLite: called once when a file the store opened is found removed or replaced, with what it
   * found and did (the SqliteStore option of that name), so it can be logged. PostgreSQL: never called.
   */
  onFilesChanged?: (message: string) => void;
  /**
   * SQLite: what an operator should read in the log (a backlog left in the ingest log at start
   * and its progress, another live server on the same data directory), so it can be logged.
   * PostgreSQL: never called.
   */
  onNotice?: (notice: StoreNotice) => void;
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
    const report = options.onBackgroundError;
    store = new SqliteStore({
      dataDir: options.dataDir,
      ...(options.maxPropertiesChars === undefined ? {} : { maxPropertiesChars: options.maxPropertiesChars }),
      ...(options.projectsOnly === true ? { projectsOnly: true } : {}),
      ...(options.closeExpandBudgetMs === undefined
        ? {}
        : { closeExpandBudgetMs: options.closeExpandBudgetMs }),
      ...(options.maxPendingEvents === undefined ? {} : { maxPendingEvents: options.maxPendingEvents }),
      ...(options.walAutocheckpointPages === undefined
        ? {}
        : { walAutocheckpointPages: options.walAutocheckpointPages }),
      ...(options.cacheSizeMiB === undefined ? {} : { cacheSizeMiB: options.cacheSizeMiB }),
      ...(options.onClosedWithBacklog === undefined
        ? {}
        : { onClosedWithBacklog: options.onClosedWithBacklog }),
      ...(options.onFilesChanged === undefined ? {} : { onFilesChanged: options.onFilesChanged }),
      ...(options.onNotice === undefined ? {} : { onNotice: options.onNotice }),
      ...(report === undefined
        ? {}
        : { onBackgroundError: (err: unknown) => report(sqliteBackgroundError(err)) }),
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

/**
 * A failure of the SQLite store's background work as a StoreError whose message is safe to log.
 * SQLite's own messages name tables, columns and conditions, never values; any other message
 * (a JSON.parse of a log row, say) may quote stored data, so only its name and code are kept.
 */
export function sqliteBackgroundError(err: unknown): StoreError {
  const code = (err as { code?: unknown } | null)?.code;
  const sqliteCode = typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
  const message =
    sqliteCode !== undefined && err instanceof Error
      ? err.message
      : `${err instanceof Error ? err.name : typeof err} (its message is not logged: it may quote stored data)`;
  return new StoreError(
    'storage',
    `background work on the ingest log (expanding it into the events table, or trimming it) failed: ${message}; events stay in the log until it works again`,
    { cause: err },
  );
}
