import { MIGRATION_LOCK } from './postgres-apply-migrations.js';
import type { TxQuery } from './postgres-connections.js';

/** Key of the advisory lock one ANALYZE of the events table holds, across every process. */
export const ANALYZE_LOCK = 0x686f6d696e61; // "homina": beside MIGRATION_LOCK, "homing"

/** How long a look waits for a lock on the events table, ms, before it leaves it for the next. */
const LOCK_WAIT_MS = 1000;
/** PostgreSQL's lock_not_available: LOCK_WAIT_MS ran out. */
const LOCK_NOT_AVAILABLE = '55P03';
/**
 * The most an ANALYZE may take, ms (it samples a fixed number of rows: seconds even on a large
 * table). Bounded below the store's 5 minutes for long work: a migration that alters the table
 * waits for it (a starting server, not ingest: see look()).
 */
const ANALYZE_TIMEOUT_MS = 60_000;

/** PostgreSQL's error code, on the error or on the StoreError that wraps it. */
function pgCode(error: unknown): unknown {
  const e = error as { code?: unknown; cause?: { code?: unknown } } | null;
  return e?.code ?? e?.cause?.code;
}

/**
 * Whether the events table's planner statistics are stale, by PostgreSQL's own autoanalyze rule
 * and a little more: never analyzed while it holds rows (`reltuples` -1; a fresh bulk load or
 * `pg_restore`), grown by more than a tenth and 1 MB since (pages now against `relpages`, which
 * ANALYZE sets: exact and at once, where the counters below reach other sessions up to seconds
 * late), or more than a tenth of its rows and 1 000 written or deleted since (every process's
 * and tool's writes, as `n_mod_since_analyze` counts them).
 */
const STALE_SQL = `
  SELECT (p.pages > 0 AND c.reltuples < 0)
      OR p.pages > c.relpages * 1.1 + 128
      OR coalesce(s.n_mod_since_analyze, 0) > greatest(c.reltuples, 0) * 0.1 + 1000 AS stale
  FROM (SELECT pg_relation_size('events') / current_setting('block_size')::bigint AS pages) p,
    pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
  WHERE c.oid = 'events'::regclass`;

/** What a look did: ran ANALYZE, found the statistics current, or left it to another process. */
export type AnalyzeOutcome = 'analyzed' | 'current' | 'busy';

/**
 * Keeps the events table's planner statistics current without anyone running ANALYZE by hand.
 * Without them (a bulk load or a restore before autovacuum's analyze came, or autovacuum off)
 * the planner's default guesses took a whole-index scan for each `/api/events` page: 2.5-4.5 s
 * a page of a 1 M event table, 7 s in a QA run over 1.5 M.
 *
 * Every store looks once after its migrations and then every `intervalMs` (an unref'd timer):
 * one catalog query (STALE_SQL), and ANALYZE only when the statistics are stale. The look runs
 * in a transaction that first takes ANALYZE_LOCK with pg_try_advisory_xact_lock: a store that
 * finds it taken skips its turn (another process is analyzing), so N processes on one database
 * never analyze at once, and the one that comes next finds the statistics current. Off the
 * request path: nothing waits for a look, and looks never overlap within a process.
 */
export class EventsStatistics {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AnalyzeOutcome> | null = null;
  private stopped = false;

  constructor(
    /** A transaction on a connection of its own, with the store's bound for long work. */
    private readonly inTransaction: <T>(fn: (query: TxQuery) => Promise<T>) => Promise<T>,
    /** How often to look, ms; 0: never on a timer. */
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Looks now in the background, then every `intervalMs`. */
  start(): void {
    if (this.stopped || this.intervalMs === 0 || this.timer !== undefined) return;
    void this.look();
    this.timer = setInterval(() => void this.look(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * Analyzes the events table if its statistics are stale and no other process is analyzing it;
   * the look under way when there is one. Failures go to `onError` (answered as 'busy').
   */
  look(): Promise<AnalyzeOutcome> {
    if (this.stopped) return Promise.resolve('busy');
    this.running ??= (async () => {
      try {
        return await this.inTransaction(async (query) => {
          // A table another session has locked (LOCK TABLE, a schema change) is left for a
          // later look: waiting, this one would hold a connection and queue writers behind it.
          await query(`SET LOCAL lock_timeout = ${LOCK_WAIT_MS}`);
          await query(`SET LOCAL statement_timeout = ${ANALYZE_TIMEOUT_MS}`);
          // MIGRATION_LOCK shared as well: a migration under way (it holds it) is not raced, and
          // one that starts meanwhile waits for this ANALYZE on the advisory lock, which blocks
          // nobody else. ANALYZE never gives way (autovacuum's does): a migration queued on the
          // table behind it queued every ingest INSERT behind itself (725 ms for one event in a
          // review's run, for as long as the ANALYZE had left).
          const lock = await query<{ got: boolean }>(
            'SELECT pg_try_advisory_xact_lock($1) AND pg_try_advisory_xact_lock_shared($2) AS got',
            [ANALYZE_LOCK, MIGRATION_LOCK],
          );
          if (!lock.rows[0]!.got) return 'busy';
          // Read under the lock: a process that analyzed just before has reset what it reads.
          const r = await query<{ stale: boolean | null }>(STALE_SQL);
          if (r.rows[0]?.stale !== true) return 'current';
          await query('ANALYZE events');
          return 'analyzed';
        });
      } catch (error) {
        // The store wraps PostgreSQL's errors (StoreError, code on its cause).
        if (pgCode(error) === LOCK_NOT_AVAILABLE) return 'busy';
        // The database gone, refusing or stuck: the next look tries again.
        try {
          this.onError(error);
        } catch {
          // A failing report must not stop the looks.
        }
        return 'busy';
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  /** Stops looking and waits for the look under way (close() cancels a long ANALYZE). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
