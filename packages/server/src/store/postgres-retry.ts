import type pg from 'pg';
import type { StoreError } from './errors.js';
import type { PostgresConnections, TxQuery } from './postgres-connections.js';

/** Deadlock and serialization failures: the transaction did nothing and may be run again. */
const RETRYABLE = new Set(['40P01', '40001']);
/** Tries of long work (an erasure, retention) that PostgreSQL aborted as above, and the base pause, ms. */
const DEADLOCK_ATTEMPTS = 4;
const DEADLOCK_PAUSE_MS = 50;

/**
 * Sorted keys keep batches from deadlocking each other, but a batch can still meet an erasure
 * or retention delete; PostgreSQL then aborts one side, which did nothing, so it is run again.
 */
export async function retryingConflicts<R extends pg.QueryResultRow = pg.QueryResultRow>(
  connections: PostgresConnections,
  sql: string,
  params: unknown[],
): Promise<pg.QueryResult<R>> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connections.query<R>(sql, params);
    } catch (err) {
      const code = ((err as StoreError).cause as { code?: string } | undefined)?.code;
      if (attempt >= 3 || code === undefined || !RETRYABLE.has(code)) throw err;
    }
  }
}

/**
 * Runs `run` again, after a short pause, when PostgreSQL aborted it as one side of a deadlock or
 * a serialization failure (it did nothing then); the other side finishes meanwhile. Other errors,
 * and the last try's, go to the caller.
 */
export async function retryingDeadlocks<T>(
  connections: PostgresConnections,
  run: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const code = ((err as StoreError).cause as { code?: string } | undefined)?.code;
      if (attempt >= DEADLOCK_ATTEMPTS || code === undefined || !RETRYABLE.has(code)) throw err;
      connections.assertOpen();
      // Spread out, so two processes that deadlocked do not meet again at once.
      await new Promise((resolve) =>
        setTimeout(resolve, DEADLOCK_PAUSE_MS * attempt * (0.5 + Math.random())),
      );
    }
  }
}

/**
 * `fn` in one transaction with the bound for long work, run again when PostgreSQL aborted it
 * for a deadlock or a serialization failure (see `retryingDeadlocks`).
 */
export function retryingTransaction<T>(
  connections: PostgresConnections,
  fn: (query: TxQuery) => Promise<T>,
): Promise<T> {
  return retryingDeadlocks(connections, () => connections.inTransaction(fn, 'long'));
}
