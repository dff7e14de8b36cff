import { StoreError } from './errors.js';
import { SUPPRESSION_REFRESH_MS } from './suppressions.js';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** How long to wait for a connection, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Largest serialized `properties` of one event, characters. Default 1 000 000. */
  maxPropertiesChars?: number;
  /**
   * How often, at most, ingest reads suppression entries (erasures) other processes committed,
   * ms; this store's own erasures apply at once. Default 1000.
   */
  suppressionRefreshMs?: number;
  /**
   * How long after an erasure this store deletes the person's events timestamped at or before it
   * a second time, ms: other processes on the database may have stored some of them before their
   * next read of suppression entries (`suppressionRefreshMs`). 0: no second deletion. Default
   * twice `suppressionRefreshMs` plus one second.
   */
  erasureSweepMs?: number;
  /**
   * Longest a statement of ingest, readiness (`ping`), key lookups and project creation may run,
   * ms, waiting for locks included: PostgreSQL then cancels it (its transaction rolls back) and
   * the call fails with a `timeout` error (the server answers 503 + Retry-After). The driver
   * gives up on its own this much plus two seconds later (a server or network that does not
   * answer at all) and discards the connection. 0: no bound. Default 5000.
   */
  statementTimeoutMs?: number;
  /**
   * The same bound for work that may legitimately touch many rows: erasure, retention batches,
   * second deletions and the admin API's reads (queries, export, stats, erasure log). Migrations
   * have no bound of this store's (a schema change takes as long as it takes; they run before
   * the server listens). 0: no bound. Default 300 000 (five minutes).
   */
  longStatementTimeoutMs?: number;
  /**
   * How long one migration statement waits for a table lock another session holds, ms, before
   * it lets go (every reader queued behind it waits too) and tries again, up to 6 times a second
   * apart; then the start fails with a `migration` error. 0: no bound. Default 5000.
   */
  migrationLockTimeoutMs?: number;
  /**
   * On close, how long calls in flight may take to finish, ms; statements still running then are
   * cancelled (their transactions roll back) and, if the server does not answer, their
   * connections closed, so close() ends. Default 2000.
   */
  closeTimeoutMs?: number;
  /**
   * How often this store looks whether the events table's planner statistics are stale (never
   * analyzed, or grown or rewritten by more than a tenth since its last ANALYZE) and runs
   * `ANALYZE events` if so, ms; it also looks once after its migrations. One process at a time
   * analyzes (an advisory lock); the others skip. 0: never (run ANALYZE yourself, or rely on
   * autovacuum). Default 60 000.
   */
  statisticsCheckMs?: number;
  /**
   * Called with a StoreError when background work fails: a second deletion after an erasure
   * (`erasureSweepMs`), which is tried again a second later, or a look at the planner statistics
   * (`statisticsCheckMs`). The error names the failure (its
   * kind, PostgreSQL's message, `cause.code`), never an event's content or a distinct_id.
   * Default: ignored.
   */
  onBackgroundError?: (error: StoreError) => void;
}

/** The second deletion after an erasure waits two of the other processes' refresh intervals and a second. */
const sweepDelayFor = (suppressionRefreshMs: number): number => 2 * suppressionRefreshMs + 1000;

export const POSTGRES_DEFAULTS = {
  poolSize: 10,
  connectTimeoutMs: 5000,
  maxPropertiesChars: 1_000_000,
  suppressionRefreshMs: SUPPRESSION_REFRESH_MS,
  erasureSweepMs: sweepDelayFor(SUPPRESSION_REFRESH_MS),
  statementTimeoutMs: 5000,
  longStatementTimeoutMs: 300_000,
  closeTimeoutMs: 2000,
  migrationLockTimeoutMs: 5000,
  statisticsCheckMs: 60_000,
} as const;

/**
 * How much longer than a statement's own bound the driver waits for its answer before giving
 * up on the connection: PostgreSQL's cancellation comes first when the server answers at all.
 */
export const CLIENT_TIMEOUT_MARGIN_MS = 2000;
/** Largest timeout option: PostgreSQL's settings are 32-bit, as are Node's timers. */
export const MAX_TIMEOUT_MS = 2_147_483_647 - CLIENT_TIMEOUT_MARGIN_MS;

/** Every option of the store with its default applied and checked. */
export interface ResolvedPostgresOptions {
  url: string;
  /** Host, port and database, never the password: what errors name. */
  where: string;
  poolSize: number;
  connectTimeoutMs: number;
  maxPropertiesChars: number;
  suppressionRefreshMs: number;
  erasureSweepMs: number;
  statementTimeoutMs: number;
  longStatementTimeoutMs: number;
  closeTimeoutMs: number;
  migrationLockTimeoutMs: number;
  statisticsCheckMs: number;
  onBackgroundError: ((error: StoreError) => void) | undefined;
}

/** Applies the defaults and refuses what PostgreSQL or Node's timers cannot take. */
export function resolvePostgresOptions(options: PostgresStoreOptions): ResolvedPostgresOptions {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new StoreError('unsupported-url', 'the PostgreSQL URL is not a valid URL');
  }
  // Never echo the password: name only host, port and database in errors.
  const where = `${url.hostname}:${url.port || 5432}${url.pathname}`;
  const poolSize = options.poolSize ?? POSTGRES_DEFAULTS.poolSize;
  const connectTimeoutMs = options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs;
  const maxPropertiesChars = options.maxPropertiesChars ?? POSTGRES_DEFAULTS.maxPropertiesChars;
  const suppressionRefreshMs = options.suppressionRefreshMs ?? POSTGRES_DEFAULTS.suppressionRefreshMs;
  if (
    !Number.isInteger(suppressionRefreshMs) ||
    suppressionRefreshMs < 0 ||
    suppressionRefreshMs > MAX_TIMEOUT_MS
  ) {
    throw new StoreError(
      'invalid-input',
      `PostgresStore option suppressionRefreshMs must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
    );
  }
  const erasureSweepMs =
    options.erasureSweepMs ?? Math.min(sweepDelayFor(suppressionRefreshMs), MAX_TIMEOUT_MS);
  if (!Number.isInteger(erasureSweepMs) || erasureSweepMs < 0 || erasureSweepMs > MAX_TIMEOUT_MS) {
    throw new StoreError(
      'invalid-input',
      `PostgresStore option erasureSweepMs must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
    );
  }
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new StoreError('invalid-input', 'PostgresStore option poolSize must be an integer ≥ 1');
  }
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > MAX_TIMEOUT_MS) {
    throw new StoreError(
      'invalid-input',
      `PostgresStore option connectTimeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`,
    );
  }
  const timeout = (name: keyof typeof POSTGRES_DEFAULTS, v: number | undefined): number => {
    const ms = v ?? (POSTGRES_DEFAULTS[name] as number);
    if (!Number.isInteger(ms) || ms < 0 || ms > MAX_TIMEOUT_MS) {
      throw new StoreError(
        'invalid-input',
        `PostgresStore option ${name} must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
      );
    }
    return ms;
  };
  return {
    url: options.url,
    where,
    poolSize,
    connectTimeoutMs,
    maxPropertiesChars,
    suppressionRefreshMs,
    erasureSweepMs,
    statementTimeoutMs: timeout('statementTimeoutMs', options.statementTimeoutMs),
    longStatementTimeoutMs: timeout('longStatementTimeoutMs', options.longStatementTimeoutMs),
    closeTimeoutMs: timeout('closeTimeoutMs', options.closeTimeoutMs),
    migrationLockTimeoutMs: timeout('migrationLockTimeoutMs', options.migrationLockTimeoutMs),
    statisticsCheckMs: timeout('statisticsCheckMs', options.statisticsCheckMs),
    onBackgroundError: options.onBackgroundError,
  };
}
