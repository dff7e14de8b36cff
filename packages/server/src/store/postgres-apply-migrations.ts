import type pg from 'pg';
import { StoreError } from './errors.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { refuseNewerSchema } from './newer-schema.js';

/** Tries of a migration that waited out `migrationLockTimeoutMs`, and the pause between them. */
const MIGRATION_LOCK_ATTEMPTS = 6;
const MIGRATION_RETRY_MS = 1000;

/** Key of the advisory lock that serialises migrations of concurrent `homing serve` starts. */
export const MIGRATION_LOCK = 0x686f6d696e67; // "homing"

/**
 * Applies the pending POSTGRES_MIGRATIONS on `client` (a connection of its own, see
 * `PostgresConnections.withMigrationClient`) under the advisory lock MIGRATION_LOCK, each in a
 * transaction of its own; refuses a schema newer than this code knows. A migration that waits
 * more than `lockTimeoutMs` (0: no bound) for a table lock lets go and tries again.
 * `where` (host, port and database) is what errors name.
 */
export async function applyMigrations(
  client: pg.Client,
  where: string,
  lockTimeoutMs: number,
): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)',
    );
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    refuseNewerSchema('PostgreSQL', where, done, POSTGRES_MIGRATIONS);
    for (const m of POSTGRES_MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (let attempt = 1; ; attempt++) {
        try {
          await client.query('BEGIN');
          // A schema change queued behind another session's lock holds up every reader of
          // the table queued behind it: wait a bounded time, then let go and try again.
          if (lockTimeoutMs > 0) {
            await client.query(`SET LOCAL lock_timeout = ${lockTimeoutMs}`);
          }
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [m.version, m.name, new Date().toISOString()],
          );
          await client.query('COMMIT');
          break;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          const lockWait = (err as { code?: unknown }).code === '55P03';
          if (lockWait && attempt < MIGRATION_LOCK_ATTEMPTS) {
            await new Promise((resolve) => setTimeout(resolve, MIGRATION_RETRY_MS));
            continue;
          }
          throw new StoreError(
            'migration',
            lockWait
              ? `PostgreSQL migration ${m.version} (${m.name}) waited ${MIGRATION_LOCK_ATTEMPTS} times ` +
                  `${lockTimeoutMs} ms for a table lock another session holds; nothing of it ` +
                  'was applied. Look for long transactions in pg_stat_activity / pg_locks, end them, and start again'
              : `PostgreSQL migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
            { cause: err },
          );
        }
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
  }
}
