import { StoreError } from './errors.js';

/** pg gave up waiting for a statement's answer (`query_timeout`); it may still be running. */
export function isClientTimeout(err: unknown): boolean {
  const e = err instanceof StoreError ? err.cause : err;
  return e instanceof Error && e.message === 'Query read timeout';
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH']);
/** admin_shutdown, crash_shutdown, cannot_connect_now: the server ended or is (re)starting. */
const LOST_CONNECTION_CODES = new Set(['57P01', '57P02', '57P03']);
/** The server answered and refused: no such database (3D000), a bad password or role (28P01, 28000). */
const LOGIN_CODES = new Set(['3D000', '28P01', '28000']);

/** The StoreError for what pg or PostgreSQL threw; `where` names the server (host, port, database). */
export function storageError(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: string }).code;
  const msg = (err as Error).message ?? String(err);
  // query_canceled (statement_timeout, or close() cancelling) and lock_not_available (a
  // lock_timeout of the server's or the URL's): the statement did nothing.
  if (code === '57014' || code === '55P03') {
    return new StoreError(
      'timeout',
      `PostgreSQL cancelled a statement (${msg}): it ran past its bound (statementTimeoutMs / ` +
        'longStatementTimeoutMs), waiting for a lock held elsewhere or on an overloaded server, ' +
        'or the store was closing; nothing of it was committed',
      { cause: err },
    );
  }
  // disk_full: the database server's disk; the transaction was rolled back.
  if (code === '53100') {
    return new StoreError(
      'disk-full',
      `PostgreSQL at ${where}: the disk is full (${msg}); nothing was committed`,
      {
        cause: err,
      },
    );
  }
  // program_limit_exceeded: a value over one of PostgreSQL's own limits (an index row over 2704
  // bytes, which ingest's limits on ids keep events from reaching). The same call fails the same
  // way however often it is sent again, so it is not a 503 that asks for a resend; nor is it an
  // outage (a full disk, a lost connection have codes of their own above).
  if (code === '54000') {
    return new StoreError(
      'invalid-input',
      `PostgreSQL refused a value over one of its limits (${msg}); nothing was committed, and the ` +
        'same request fails the same way when sent again',
      { cause: err },
    );
  }
  // insufficient_privilege: what to grant depends on what was refused (PostgreSQL names it).
  if (code === '42501') {
    return new StoreError(
      'storage',
      `PostgreSQL at ${where} refused a privilege Homing needs: ${msg} (42501). ${privilegeAdvice(msg)}`,
      {
        cause: err,
      },
    );
  }
  if (msg === 'timeout exceeded when trying to connect') {
    // pg-pool's answer when every connection stayed busy for connectTimeoutMs.
    return new StoreError(
      'timeout',
      'every connection to PostgreSQL stayed busy for connectTimeoutMs (statements stuck behind ' +
        'locks, or slow); nothing was sent',
      { cause: err },
    );
  }
  if (isClientTimeout(err)) {
    return new StoreError(
      'timeout',
      `PostgreSQL at ${where} did not answer a statement within its bound and two seconds more; ` +
        'the connection was dropped',
      { cause: err },
    );
  }
  if (code !== undefined && LOGIN_CODES.has(code)) {
    // PostgreSQL's own words name the user or the database it refused (never the password).
    return new StoreError(
      'unreachable',
      `PostgreSQL at ${where} refused the connection: ${msg} (${code}); check the user, password and ` +
        'database in --database / HOMING_DATABASE_URL',
      { cause: err },
    );
  }
  // An open connection ended by the server (a restart, a failover, pg_terminate_backend): the
  // address and credentials were right, so the advice to check them misled.
  if (
    (code !== undefined && LOST_CONNECTION_CODES.has(code)) ||
    /Connection terminated unexpectedly|terminating connection/i.test(msg)
  ) {
    return new StoreError(
      'unreachable',
      `lost the connection to PostgreSQL at ${where} (${code ?? msg}): the server restarted, failed ` +
        'over, is starting up or ended it; the next statements connect again (a commit it cut may have ' +
        'gone through: what a client sends again is stored once)',
      { cause: err },
    );
  }
  if ((code !== undefined && CONNECTION_CODES.has(code)) || /timeout|terminated|Connection/i.test(msg)) {
    return new StoreError(
      'unreachable',
      `cannot reach PostgreSQL at ${where} (${code ?? msg}); check --database / HOMING_DATABASE_URL, ` +
        'that the server is running and accepts this user, and that the database exists',
      { cause: err },
    );
  }
  return new StoreError('storage', `PostgreSQL failed: ${msg}`, { cause: err });
}

/** The fix for a refused privilege, by what PostgreSQL's message says was refused. */
function privilegeAdvice(msg: string): string {
  const where = 'in --database / HOMING_DATABASE_URL';
  if (/for schema/i.test(msg)) {
    // PostgreSQL 15 and later let only the database's owner create tables in schema public.
    return `Homing creates its tables in the database's schema public: connect as the database's owner ${where}, or have the owner run GRANT CREATE ON SCHEMA public TO <your user>`;
  }
  if (/for database/i.test(msg)) {
    return `the user may not use this database: connect as its owner ${where}, or have the owner run GRANT CONNECT, CREATE ON DATABASE <database> TO <your user>`;
  }
  if (/for (table|relation|sequence)/i.test(msg)) {
    return `Homing's tables belong to another user (the one that first started Homing on this database): connect as that user ${where}, or have it run GRANT ALL ON ALL TABLES IN SCHEMA public TO <your user> and GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO <your user>`;
  }
  return `connect as the database's owner ${where}`;
}
