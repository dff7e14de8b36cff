/**
 * Why a store call failed. The server maps `invalid-input` and `unknown-project` to 4xx and
 * everything else to 503 with Retry-After.
 */
export type StoreErrorKind =
  /** An event or argument is malformed; nothing was written. */
  | 'invalid-input'
  /** insertEvents named a project id that does not exist. */
  | 'unknown-project'
  /** openStore got a database URL whose scheme it does not know. */
  | 'unsupported-url'
  /** The database server could not be reached or refused the connection. */
  | 'unreachable'
  /**
   * The SQLite data directory or file cannot be created, opened or is not a database; the
   * better-sqlite3 native module cannot be loaded; or the files were removed or replaced while
   * the store had them open.
   */
  | 'data-dir'
  /**
   * A schema migration failed (the schema is left at the last version that applied), or the
   * database was migrated by a newer Homing than this one.
   */
  | 'migration'
  /** The store was closed. */
  | 'closed'
  /**
   * A statement ran past its bound (PostgreSQL's `statementTimeoutMs`: a lock held elsewhere, an
   * overloaded server) or the store cancelled it on close. Cancelled by PostgreSQL, it did
   * nothing; when the server did not answer at all, the connection was dropped.
   */
  | 'timeout'
  /**
   * The disk (or quota) under the database is full: nothing of the call was written, and nothing
   * already stored is damaged. Free room and try again; moving the files aside would lose events.
   */
  | 'disk-full'
  /** A write or read failed inside the database (constraint, I/O error). */
  | 'storage';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The store dropped a call, unwritten, because its caller's signal aborted before the commit (a
 * client that left): no failure of the store, which ingest counts apart from real ones.
 */
export class StoreCallDropped extends StoreError {
  constructor() {
    super('timeout', 'the request was given up before its events were committed; nothing was stored');
  }
}

/** Bad input to insertEvents: `index` is the offending event's position in the batch. */
export class StoreInputError extends StoreError {
  constructor(
    message: string,
    readonly index: number | null = null,
  ) {
    super('invalid-input', message);
  }
}
