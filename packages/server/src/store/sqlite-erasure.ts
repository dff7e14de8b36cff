import type Database from 'better-sqlite3';
import { nextBatchSize } from './batchSizer.js';
import { nextTurn } from './next-turn.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import type { ErasureRecord } from './store.js';

/**
 * An erasure's transactions: about 30 ms of the event loop each, whatever the table's size (a
 * fixed 5 000 events took 0.25-2.4 s each on a database of 2 million events).
 */
const ERASE_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;

/**
 * SqliteStore's side of erasure on homing.db: the suppression entry, the deletion of a person's
 * events with their keys kept (`erased_keys`), and the erasure log. The store orders the steps
 * around its ingest (see SqliteStore.erasePerson). Each batch of the deletion takes the write
 * turn; the suppression entry is written within the caller's turn.
 */
export class SqliteErasure {
  /** Events an erasure deletes in its next transaction: sized by time (see deletePerson). */
  private eraseBatch: number = ERASE_BATCH.min;

  constructor(
    private readonly db: Database.Database,
    private readonly turn: WriteTurn,
    /** Throws once the store is closed: checked before each batch. */
    private readonly assertOpen: () => void,
  ) {}

  /** Writes the person's suppression entry; call it holding the write turn (it commits on its own). */
  insertSuppression(pk: number, hash: Buffer, erasedAtMs: number): void {
    this.db
      .prepare('INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES (?, ?, ?)')
      .run(pk, hash, erasedAtMs);
  }

  /**
   * Deletes the person's events timestamped or received up to erasedAt, keeps their keys and
   * logs the erasure; resolves how many it deleted. `logThrough`: the newest ingest log row that
   * may hold the person's events, recorded as due for the scrub (see SQLite migration 8).
   */
  async deletePerson(
    pk: number,
    distinctId: string,
    requestedBy: string,
    erasedAt: Date,
    logThrough: number,
  ): Promise<number> {
    // In batches, each a transaction and a turn of its own, sized by time (nextBatchSize): one
    // DELETE of a person with 400 000 events held the event loop (health checks, every other
    // project's ingest) 3 s, and a fixed 5 000 events up to 2.4 s on a large table.
    // Only events timestamped or received up to erasedAt: catching up can take long under a
    // backlog, and the person's events acknowledged meanwhile with later timestamps are new data
    // (the person came back); one received before, whatever its timestamp (a client clock ahead,
    // an import), is erased.
    const del = this.db
      .prepare(
        'DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE project_pk = ? AND distinct_id = ? AND (ts <= ? OR received_at <= ?) LIMIT ?) RETURNING key',
      )
      .pluck();
    // The deleted events' keys, in the same transaction: a resend of one is erased, not stored,
    // whatever timestamp it gets (see suppressions.ts).
    const keep = this.db.prepare(
      `INSERT INTO erased_keys (project_pk, key, erased_at_ms) VALUES (?, ?, ?)
       ON CONFLICT (project_pk, key) DO UPDATE SET erased_at_ms = max(erased_at_ms, excluded.erased_at_ms)`,
    );
    const logStart = this.db.prepare(
      'INSERT INTO erasures (project_pk, distinct_id, requested_by, deleted_count, erased_at) VALUES (?, ?, ?, ?, ?)',
    );
    const logAdd = this.db.prepare('UPDATE erasures SET deleted_count = deleted_count + ? WHERE id = ?');
    // In every deleting transaction, not only the first: a scrub done between two of them (the
    // expander is idle meanwhile) clears it, and the rows the later ones delete still need one.
    const scrubDue = this.db.prepare(
      'UPDATE ingest_progress SET scrub_through = max(scrub_through, ?) WHERE id = 1',
    );
    const erasedAtMs = erasedAt.getTime();
    const erasedAtIso = erasedAt.toISOString();
    // The log entry is written with the first batch and each later batch adds its count in its
    // own transaction: an erasure stopped between batches (the store closed, a failing write)
    // has logged every event it deleted. Written with the last one only, the log missed them.
    let logId: number | null = null;
    let deleted = 0;
    for (let done = false; !done;) {
      if (logId !== null) await nextTurn();
      this.assertOpen();
      const size = this.eraseBatch;
      const batch = await this.turn.runAsync(() => {
        const t0 = performance.now();
        const r = this.db
          .transaction(() => {
            const keys = del.all(pk, distinctId, erasedAtMs, erasedAtIso, size) as Buffer[];
            for (const key of keys) keep.run(pk, key, erasedAtMs);
            let id = logId;
            if (id === null) {
              const rowid = logStart.run(
                pk,
                distinctId,
                String(requestedBy),
                keys.length,
                erasedAtIso,
              ).lastInsertRowid;
              id = Number(rowid);
            } else if (keys.length > 0) logAdd.run(keys.length, id);
            scrubDue.run(logThrough);
            return { n: keys.length, id };
          })
          .immediate();
        return { ...r, ms: performance.now() - t0 };
      });
      logId = batch.id;
      deleted += batch.n;
      done = batch.n < size;
      // A short last batch says nothing about the cost of a full one, unless it was slow.
      if (!done || batch.ms > ERASE_BATCH.targetMs)
        this.eraseBatch = nextBatchSize(Math.max(batch.n, 1), batch.ms, ERASE_BATCH);
    }
    return deleted;
  }

  /** One page of the project's erasure log, newest first: entries below `beforeSeq`. */
  list(pk: number, projectId: string, beforeSeq: number, limit: number): ErasureRecord[] {
    const rows = this.db
      .prepare(
        `SELECT id, distinct_id, requested_by, deleted_count, erased_at FROM erasures
         WHERE project_pk = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      )
      .all(pk, beforeSeq, limit) as {
      id: number;
      distinct_id: string;
      requested_by: string;
      deleted_count: number;
      erased_at: string;
    }[];
    return rows.map((r) => ({
      seq: r.id,
      projectId,
      distinctId: r.distinct_id,
      requestedBy: r.requested_by,
      deletedCount: r.deleted_count,
      erasedAt: r.erased_at,
    }));
  }
}
