import type Database from 'better-sqlite3';
import { nextBatchSize } from './batchSizer.js';
import { StoreError } from './errors.js';
import { nextTurn } from './next-turn.js';
import { parseIsoMs } from './parse-iso.js';
import type { WriteTurn } from './sqlite-write-turn.js';

/** Retention's transactions: about 30 ms of the event loop each, whatever the table's size. */
const RETENTION_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;

/**
 * SqliteStore's retention (`deleteEventsBefore`): deletes old events in transactions sized by
 * time, each taking the write turn, with a turn of the event loop between them.
 */
export class SqliteRetention {
  /** The cutoff `deleteBefore` last waited for the expander with. */
  private retentionCaughtUpFor: string | null = null;
  /** Events retention deletes in its next transaction: sized by time (see deleteOldEvents). */
  private retentionBatch: number = RETENTION_BATCH.min;

  constructor(
    private readonly db: Database.Database,
    private readonly turn: WriteTurn,
    /** Throws once the store is closed: checked before each batch. */
    private readonly assertOpen: () => void,
    /** Expands every ingest log row committed before the call (see SqliteStore.catchUp). */
    private readonly catchUp: () => Promise<void>,
  ) {}

  /** Deletes up to `limit` events with timestamp before `cutoff`; resolves how many. */
  async deleteBefore(cutoff: string, limit: number): Promise<number> {
    // Strict: Date.parse read '12' as 2001-12-01 and deleted every event before it. 'ceil': the
    // bound is exclusive (ts < cutoff), so a finer fraction than ms keeps the event at its ms.
    const cutoffMs = typeof cutoff === 'string' ? parseIsoMs(cutoff, 'ceil') : NaN;
    if (!Number.isFinite(cutoffMs))
      throw new StoreError(
        'invalid-input',
        `cutoff must be an ISO 8601 date or date-time such as 2026-01-31 or 2026-01-31T00:00:00Z, got ${JSON.stringify(String(cutoff)).slice(0, 80)}`,
      );
    if (!Number.isInteger(limit) || limit < 1)
      throw new StoreError('invalid-input', 'limit must be a positive integer');
    // Once per cutoff, not per batch: a retention run asks in batches with one cutoff, and under
    // an ingest the expander trails, each batch waited for the whole log as it then stood, so a
    // run deleted a few hundred events a second while the table grew. What arrives after the
    // first batch is expanded meanwhile and its old events wait for the next run.
    if (this.retentionCaughtUpFor !== cutoff) {
      await this.catchUp();
      this.retentionCaughtUpFor = cutoff;
    }
    const deleted = await this.deleteOldEvents(cutoffMs, limit);
    return deleted;
  }

  /**
   * Deletes up to `limit` events timestamped before cutoffMs, oldest first per project, in
   * transactions sized by time (nextBatchSize) with a turn of the event loop between them. A
   * fixed count cannot bound the stall: each deleted row touches four indexes, so 1000 rows took
   * 30 ms on a small table and 560 ms on one of 2 million events.
   */
  private async deleteOldEvents(cutoffMs: number, limit: number): Promise<number> {
    const pks = this.db.prepare('SELECT pk FROM projects ORDER BY pk').pluck().all() as number[];
    const del = this.db.prepare(
      'DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE project_pk = ? AND ts < ? ORDER BY ts LIMIT ?)',
    );
    let deleted = 0;
    let batches = 0;
    for (const pk of pks) {
      for (let more = true; more && deleted < limit;) {
        if (batches++ > 0) await nextTurn();
        this.assertOpen();
        const size = Math.min(this.retentionBatch, limit - deleted);
        const { n, ms } = await this.turn.runAsync(() => {
          const t0 = performance.now();
          const changes = del.run(pk, cutoffMs, size).changes;
          return { n: changes, ms: performance.now() - t0 };
        });
        deleted += n;
        more = n === size;
        // A short batch (the project ran out, or the call's limit) says little about the size,
        // unless it overran the target even so.
        if (n === this.retentionBatch || (n > 0 && ms > RETENTION_BATCH.targetMs))
          this.retentionBatch = nextBatchSize(n, ms, RETENTION_BATCH);
      }
      if (deleted >= limit) break;
    }
    return deleted;
  }
}
