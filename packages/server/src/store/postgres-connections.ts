import { userInfo } from 'node:os';
import pg from 'pg';
import { StoreError } from './errors.js';
import { isClientTimeout, storageError } from './postgres-errors.js';
import {
  CLIENT_TIMEOUT_MARGIN_MS,
  MAX_TIMEOUT_MS,
  type ResolvedPostgresOptions,
} from './postgres-options.js';

/** After cancelling the statements still running at close, how long to wait for their answers, ms. */
const CANCEL_WAIT_MS = 2000;

/**
 * The store's connections to PostgreSQL: a pool whose every statement PostgreSQL bounds
 * (`statementTimeoutMs`, raised per transaction for long work) and the driver bounds again a
 * little later, for a server that does not answer at all; connections of their own for
 * migrations; and a close that cancels what still runs, so it always ends.
 */
export class PostgresConnections {
  private readonly pool: pg.Pool;
  /** The driver's own bound on a long statement (see `longStatementTimeoutMs`), ms. */
  private readonly longClientTimeoutMs: number;
  /** Connections running a call (checked out of the pool, or migrating): close() cancels them. */
  private readonly busy = new Set<pg.ClientBase>();
  /** Called whenever `busy` becomes empty. */
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: ResolvedPostgresOptions) {
    const { statementTimeoutMs, longStatementTimeoutMs } = options;
    this.longClientTimeoutMs =
      longStatementTimeoutMs === 0 ? MAX_TIMEOUT_MS : longStatementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS;
    this.pool = new pg.Pool({
      ...login(options.url),
      max: options.poolSize,
      // Also bounds the wait for a free connection when every one is busy.
      connectionTimeoutMillis: options.connectTimeoutMs,
      // The driver's own bound, for a server or network that does not answer at all.
      ...(statementTimeoutMs === 0 ? {} : { query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS }),
    });
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
    if (statementTimeoutMs > 0) {
      // Every statement is bounded by the server, waiting for locks included, unless a transaction
      // raises it (`inTransaction(…, 'long')`). Set once per connection, queued ahead of its first
      // query (pg-pool emits 'connect' before handing the client out). Not as a startup parameter:
      // PgBouncer refuses unknown ones, and its ignore_startup_parameters would drop the bound.
      this.pool.on('connect', (client) => {
        client.query(`SET statement_timeout = ${statementTimeoutMs}`).catch(() => {
          // The connection is broken: the query behind this one fails and says so.
        });
      });
    }
  }

  /** True once close() began: every new call fails with a `closed` error. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Refuses new calls, gives calls in flight `closeTimeoutMs` to finish, then cancels the
   * statements still running (their transactions roll back; the calls fail) and, when the
   * server does not answer that either, closes their connections; then, once `settled` has
   * too (the caller's background work, which these cancellations end), ends the pool.
   */
  async close(settled: Promise<unknown> = Promise.resolve()): Promise<void> {
    this.closed = true;
    if (!(await this.idleWithin(this.options.closeTimeoutMs))) {
      await this.cancelBusy();
      if (!(await this.idleWithin(CANCEL_WAIT_MS))) {
        // The server answers neither the statements nor their cancellation: close the
        // connections (the statements fail at once), or ending the pool would wait for them.
        for (const client of this.busy) destroyConnection(client);
      }
    }
    await settled;
    await this.pool.end();
  }

  /**
   * Runs `fn` on a client of its own. The pool stops listening for a client's errors while it is
   * checked out, and a connection lost then (a restart, a terminated backend) is emitted as
   * 'error': with no listener that is an uncaught exception, the whole server gone. The query in
   * flight rejects anyway; the broken client is given back to be discarded, as is one whose
   * statement the driver gave up waiting for (it may still be running on it).
   */
  async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageError(err, this.options.where);
    }
    let lost: Error | undefined;
    const onError = (err: Error): void => {
      lost = err;
    };
    client.on('error', onError);
    this.busy.add(client);
    try {
      // close() began while this call waited for a connection.
      this.assertOpen();
      return await fn(client);
    } catch (err) {
      if (isClientTimeout(err)) lost ??= err as Error;
      throw err;
    } finally {
      client.off('error', onError);
      this.busy.delete(client);
      client.release(lost);
      this.notifyIfIdle();
    }
  }

  /**
   * Runs `fn` in one transaction, its statements bounded by `statementTimeoutMs` or, for
   * `'long'`, by `longStatementTimeoutMs` (`SET LOCAL`: only this transaction). Commits what `fn`
   * resolves; rolls back and throws a StoreError when anything fails, a timeout included.
   */
  inTransaction<T>(fn: (query: TxQuery) => Promise<T>, bound: 'short' | 'long' = 'short'): Promise<T> {
    return this.withClient(async (client) => {
      const query: TxQuery = (sql, params) =>
        bound === 'long'
          ? client.query(longStatement(sql, params, this.longClientTimeoutMs))
          : client.query(sql, params);
      try {
        await client.query('BEGIN');
        if (bound === 'long')
          await client.query(`SET LOCAL statement_timeout = ${this.options.longStatementTimeoutMs}`);
        const result = await fn(query);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // After a driver timeout the statement may still be running on this connection, which
        // is discarded instead (its transaction rolls back when the server sees it closed).
        if (!isClientTimeout(err)) await client.query('ROLLBACK').catch(() => {});
        throw storageError(err, this.options.where);
      }
    });
  }

  /** One statement bounded by `longStatementTimeoutMs` (a transaction of its own). */
  longQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.inTransaction((query) => query<R>(sql, params), 'long');
  }

  /** One statement bounded by `statementTimeoutMs`, on its own (autocommit). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.withClient((client) => client.query<R>(sql, params));
    } catch (err) {
      throw storageError(err, this.options.where);
    }
  }

  /** Runs `fn` on a connection of its own, outside the pool and without statement bounds. */
  async withMigrationClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = new pg.Client({
      ...login(this.options.url),
      connectionTimeoutMillis: this.options.connectTimeoutMs,
    });
    // A connection lost mid-migration fails the query in flight; without a listener it would
    // also be an uncaught exception.
    client.on('error', () => {});
    this.busy.add(client);
    try {
      await client.connect();
      return await fn(client);
    } catch (err) {
      throw storageError(err, this.options.where);
    } finally {
      this.busy.delete(client);
      await client.end().catch(() => {});
      this.notifyIfIdle();
    }
  }

  private notifyIfIdle(): void {
    if (this.busy.size > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  assertOpen(): void {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
  }

  /** Resolves true once no call holds a connection, or false after `ms`. */
  private idleWithin(ms: number): Promise<boolean> {
    if (this.busy.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      this.idleWaiters.push(done);
    });
  }

  /**
   * Cancels the statement each busy connection runs with PostgreSQL's cancel request (the
   * backend's process id and secret key, on a socket of its own): it needs no login, so no free
   * connection slot (with the role's or the server's connection limit reached, a
   * `pg_cancel_backend` from a new session was refused and the statements ran on and committed
   * after close), names exactly one backend, and passes through PgBouncer, whose process ids
   * are not the server's.
   */
  private async cancelBusy(): Promise<void> {
    await Promise.all([...this.busy].map((client) => sendCancelRequest(client)));
  }
}

/** A statement of a transaction, in `inTransaction`. */
export type TxQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** A statement the driver waits for up to `clientTimeoutMs` (pg's per-query `query_timeout`). */
function longStatement(sql: string, params: unknown[] | undefined, clientTimeoutMs: number): pg.QueryConfig {
  const config: pg.QueryConfig & { query_timeout: number } = {
    text: sql,
    query_timeout: clientTimeoutMs,
    ...(params === undefined ? {} : { values: params }),
  };
  return config;
}

/**
 * Sends the cancel request for the statement `client` runs (what pg's own `Client#cancel` does),
 * and resolves once the server closed that socket, or after `CANCEL_WAIT_MS`. Never throws.
 */
function sendCancelRequest(client: pg.ClientBase): Promise<void> {
  const c = client as unknown as { processID?: unknown; secretKey?: unknown; host?: unknown; port?: unknown };
  const { processID, secretKey, host, port } = c;
  if (typeof processID !== 'number' || typeof secretKey !== 'number' || typeof host !== 'string') {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const con = new pg.Connection();
    const done = (): void => {
      clearTimeout(timer);
      con.stream.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_WAIT_MS);
    con.on('error', done);
    con.on('end', done);
    con.on('connect', () =>
      (con as unknown as { cancel(pid: number, key: number): void }).cancel(processID, secretKey),
    );
    const connect = (con as unknown as { connect(portOrPath: unknown, host?: string): void }).connect.bind(
      con,
    );
    // A Unix socket directory as host, as libpq and pg take it.
    if (host.startsWith('/')) connect(`${host}/.s.PGSQL.${String(port)}`);
    else connect(port, host);
  });
}

/** Closes a client's socket at once (pg-pool does the same to a client that connects too slowly). */
function destroyConnection(client: pg.ClientBase): void {
  (client as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
}

/**
 * The URL, naming the user to log in as when it names none: pg takes only $PGUSER or $USER,
 * and with neither set (a service, a container) sent no user at all, which PostgreSQL refuses;
 * libpq and psql use the operating system's user name, as this does. (A `user` beside
 * `connectionString` would not do: pg lets the URL's empty user override it.)
 */
function login(url: string): { connectionString: string } {
  if (process.env['PGUSER'] || process.env['USER']) return { connectionString: url };
  try {
    const parsed = new URL(url);
    if (parsed.username !== '') return { connectionString: url };
    parsed.username = encodeURIComponent(userInfo().username);
    return { connectionString: parsed.href };
  } catch {
    // Not a URL resolvePostgresOptions let through, or no user name from the system: as given.
    return { connectionString: url };
  }
}
