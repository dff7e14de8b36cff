import type { PostgresConnections } from './postgres-connections.js';
import { DB_NOW_MS, KEEP_ERASED_KEYS } from './postgres-erasure-sweeps.js';
import { retryingTransaction } from './postgres-retry.js';
import { suppressionHash, type Suppressions } from './suppressions.js';
import type { ErasureRecord } from './store.js';

/**
 * PostgresStore's erasure of a person: the suppression entry, the deletion of the person's
 * events with their keys kept (`erased_keys`), and the erasure log, whose entry also marks the
 * second deletion due (see ErasureSweeps); and the log's pages.
 */
export class PostgresErasure {
  constructor(
    private readonly connections: PostgresConnections,
    /** The store's suppression entries: an erasure is noted there as soon as it is committed. */
    private readonly suppressions: Suppressions,
    /** Batch inserts past their suppression check and not yet finished (erasure waits for them). */
    private readonly writing: ReadonlySet<Promise<unknown>>,
    /** The delay of the second deletion (`erasureSweepMs`); 0: none. */
    private readonly erasureSweepMs: number,
  ) {}

  /** Erases the person of the project `pk`; resolves how many events it deleted. */
  async erase(projectId: string, pk: string, distinctId: string, requestedBy: string): Promise<number> {
    const hash = suppressionHash(projectId, String(distinctId));
    const erasedAt = new Date();
    // The suppression entry first, committed on its own: other processes pick it up at their
    // next refresh, this one at once. If the deletion below fails, the entry stays; the request
    // answers an error and a retry deletes the events.
    await this.connections.query(
      'INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES ($1, $2, $3)',
      [pk, hash, erasedAt.getTime()],
    );
    this.suppressions.note(projectId, hash, erasedAt.getTime());
    // Batches that passed their check before the note may still be writing: the deletion must
    // come after them, or their events would outlive it.
    await Promise.allSettled([...this.writing]);
    // A deadlock with the retention DELETE (both lock the person's rows, in different orders) or
    // a serialization failure rolled the transaction back whole: run it again, as ingest does,
    // rather than answer 503 with the suppression entry committed and the events still there.
    return retryingTransaction(this.connections, async (query) => {
      // Only events timestamped or received up to the erasure time, as the second deletion: the
      // person's events with later timestamps, stored while the erasure waited, are new data (the
      // person came back); one received before, whatever its timestamp, is erased. Their keys
      // are kept in the same statement (erased_keys): a resend of one is erased, not stored,
      // whatever timestamp the server gives it.
      const n = Number(
        (
          await query<{ n: string }>(
            `WITH gone AS (
               DELETE FROM events WHERE project_pk = $1 AND distinct_id = $2 AND (ts <= $3 OR received_at <= $4)
               RETURNING key
             ), kept AS (${KEEP_ERASED_KEYS})
             SELECT count(*) AS n FROM gone`,
            [pk, distinctId, erasedAt.getTime(), erasedAt.toISOString()],
          )
        ).rows[0]!.n,
      );
      // The second deletion counts from here, after the entry committed (its insert may have
      // waited; from this statement, a little later than the commit, so never early): other
      // processes can miss the entry until their first read after the commit. By the database's
      // clock, which every store's look compares with (DB_NOW_MS), not this process's: with it
      // behind the others', a sweep would run before they had read the entry.
      await query(
        `INSERT INTO erasures (project_pk, distinct_id, requested_by, deleted_count, erased_at, erased_at_ms, sweep_due_ms)
         VALUES ($1, $2, $3, $4, $5, $6, ${DB_NOW_MS} + $7::bigint)`,
        [
          pk,
          distinctId,
          String(requestedBy),
          n,
          erasedAt.toISOString(),
          erasedAt.getTime(),
          // NULL, no second deletion: the sum is NULL too.
          this.erasureSweepMs === 0 ? null : this.erasureSweepMs,
        ],
      );
      return n;
    });
  }

  /** One page of the project's erasure log, newest first: entries below `beforeSeq`. */
  async list(pk: string, projectId: string, beforeSeq: number, limit: number): Promise<ErasureRecord[]> {
    const r = await this.connections.longQuery<{
      id: string;
      distinct_id: string;
      requested_by: string;
      deleted_count: number;
      erased_at: string;
    }>(
      `SELECT id, distinct_id, requested_by, deleted_count, erased_at FROM erasures
       WHERE project_pk = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
      [pk, beforeSeq, limit],
    );
    return r.rows.map((row) => ({
      seq: Number(row.id),
      projectId,
      distinctId: row.distinct_id,
      requestedBy: row.requested_by,
      deletedCount: row.deleted_count,
      erasedAt: row.erased_at,
    }));
  }
}
