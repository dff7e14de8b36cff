import type { PostgresConnections } from './postgres-connections.js';
import { retryingDeadlocks } from './postgres-retry.js';

/**
 * PostgresStore's retention: deletes up to `limit` events timestamped before `cutoffMs`, oldest
 * first per project, each project's in one statement (run again when PostgreSQL aborted it as
 * a deadlock); resolves how many.
 */
export async function deleteEventsBefore(
  connections: PostgresConnections,
  cutoffMs: number,
  limit: number,
): Promise<number> {
  const pks = (await connections.query<{ pk: string }>('SELECT pk FROM projects ORDER BY pk')).rows.map(
    (r) => r.pk,
  );
  let deleted = 0;
  for (const pk of pks) {
    if (deleted >= limit) break;
    // Rows locked oldest first, skipping those another transaction holds (an erasure, another
    // process's retention run, a late-write re-check: each deletes them itself), so this never
    // waits on a row lock: no deadlock with an erasure locking in its index's order, and
    // several processes' runs share the work instead of queueing on the same rows.
    const r = await retryingDeadlocks(connections, () =>
      connections.longQuery(
        `DELETE FROM events WHERE ctid IN
             (SELECT ctid FROM events WHERE project_pk = $1 AND ts < $2 ORDER BY ts, seq LIMIT $3
              FOR UPDATE SKIP LOCKED)`,
        [pk, cutoffMs, limit - deleted],
      ),
    );
    deleted += r.rowCount ?? 0;
  }
  return deleted;
}
