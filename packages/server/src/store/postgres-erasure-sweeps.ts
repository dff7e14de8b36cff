import type { TxQuery } from './postgres-connections.js';

/** How often each store looks for second deletions that are due, ms. */
export const SWEEP_CHECK_MS = 1000;
/** Second deletions run per look, at most: an erasure storm is worked off over several looks. */
const SWEEPS_PER_CHECK = 100;

/**
 * The database server's clock, ms since the epoch, as SQL: what `sweep_due_ms` is written and
 * compared with. Each process's own clock would not do: with several processes on hosts whose
 * clocks differ, one whose clock runs ahead (or an eraser whose clock runs behind) would run a
 * second deletion before the other processes have read the erasure, and what they stored after
 * it would stay for good. `clock_timestamp()`, not `now()`: the time of the statement, not of its
 * transaction's start.
 */
export const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * The body of a CTE that keeps the keys of the events a `gone AS (DELETE … RETURNING key)` CTE
 * deleted, with $1 the project's pk and $3 the erasure time (ms): a resend of one of them is then
 * erased at ingest, not stored, whatever timestamp the server gives it. A key erased again keeps
 * the later time (retention prunes by it).
 */
export const KEEP_ERASED_KEYS = `INSERT INTO erased_keys (project_pk, key, erased_at_ms)
  SELECT $1, key, $3 FROM gone
  ON CONFLICT (project_pk, key) DO UPDATE SET erased_at_ms = greatest(erased_keys.erased_at_ms, EXCLUDED.erased_at_ms)`;

/**
 * Runs `fn` in one transaction on a client of its own, with the store's bound for long work
 * (`longStatementTimeoutMs`); commits what it resolves, rolls back when it throws.
 */
export type InTransaction = <T>(fn: (query: TxQuery) => Promise<T>) => Promise<T>;

/**
 * The second deletion after an erasure. Another process may store events of an erased person
 * until its next read of suppression entries, plus a batch in flight; once that is past, those
 * events (timestamped at or before the erasure: later ones are the person's new data) are
 * deleted too and counted in the erasure's log entry, and so is an event of the person stored
 * again under a key an erasure deleted (a resend whose write raced with the erasure's DELETE, or
 * that a process without the entry yet took in); their keys are kept like the erasure's.
 *
 * Each erasure's row in `erasures` carries `sweep_due_ms`, by the database's clock (`DB_NOW_MS`:
 * the processes' clocks may disagree); every store looks for due rows every
 * `SWEEP_CHECK_MS` and takes each in a transaction (`FOR UPDATE SKIP LOCKED`: one process runs
 * it, the others skip it), deletes, counts and clears the mark in that same transaction. Kept in
 * the table rather than in the erasing process's memory, a sweep survives that process stopping
 * or dying before it is due, which let the events other processes stored meanwhile live on.
 */
export class ErasureSweeps {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly inTransaction: InTransaction,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** Starts looking every `SWEEP_CHECK_MS` (an unref'd timer). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => void this.runDue(), SWEEP_CHECK_MS);
    this.timer.unref();
  }

  /** Runs every sweep due by now, by the database's clock (one look at a time). */
  runDue(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.running ??= (async () => {
      try {
        for (let i = 0; i < SWEEPS_PER_CHECK && !this.stopped; i++) {
          if (!(await this.runOne())) break;
        }
      } catch (error) {
        // The database is gone, refusing or stuck: the marks stay, the next look tries again.
        // Reported (the store logs nothing itself), but a failing report must not stop looks.
        try {
          this.onError(error);
        } catch {
          // Nothing more to do.
        }
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Stops looking and waits for the look under way; marks left stay for the other stores. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private runOne(): Promise<boolean> {
    return this.inTransaction(async (query) => {
      const due = await query<{
        id: string;
        project_pk: string;
        distinct_id: string;
        erased_at_ms: string;
      }>(
        `SELECT id, project_pk, distinct_id, erased_at_ms FROM erasures
         WHERE sweep_due_ms <= ${DB_NOW_MS} ORDER BY sweep_due_ms LIMIT 1 FOR UPDATE SKIP LOCKED`,
      );
      const row = due.rows[0];
      if (row !== undefined) {
        await query(
          `WITH gone AS (DELETE FROM events e WHERE project_pk = $1 AND distinct_id = $2
             AND (ts <= $3 OR received_at <= $5
               OR EXISTS (SELECT 1 FROM erased_keys k WHERE k.project_pk = e.project_pk AND k.key = e.key))
             RETURNING key), kept AS (${KEEP_ERASED_KEYS})
           UPDATE erasures SET deleted_count = deleted_count + (SELECT count(*) FROM gone), sweep_due_ms = NULL
           WHERE id = $4`,
          [
            row.project_pk,
            row.distinct_id,
            row.erased_at_ms,
            row.id,
            new Date(Number(row.erased_at_ms)).toISOString(),
          ],
        );
      }
      return row !== undefined;
    });
  }
}
