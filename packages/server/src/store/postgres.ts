import { StoreError } from './errors.js';
import { type AnalyzeOutcome, EventsStatistics } from './postgres-analyze.js';
import { applyMigrations } from './postgres-apply-migrations.js';
import { ProjectRemovedError, writeEvents, writeUnlessErased } from './postgres-batch-write.js';
import { PostgresConnections } from './postgres-connections.js';
import { PostgresErasure } from './postgres-erasure.js';
import { ErasureSweeps } from './postgres-erasure-sweeps.js';
import { storageError } from './postgres-errors.js';
import { dropLateErased, LATE_WRITE_MARGIN_MS } from './postgres-late-erasure.js';
import { type PostgresStoreOptions, resolvePostgresOptions } from './postgres-options.js';
import { PostgresProjectRemoval } from './postgres-project-removal.js';
import { PostgresProjects } from './postgres-projects.js';
import { countEventsByBucket, readEventPage, readPersonEvents } from './postgres-reads.js';
import { deleteEventsBefore } from './postgres-retention.js';
import {
  buildBuckets,
  checkErasure,
  checkErasureQuery,
  checkQuery,
  checkRetention,
  checkStats,
  prepareEvents,
} from './prepare-events.js';
import { checkKeysToRotate } from './project-keys.js';
import { Suppressions } from './suppressions.js';
import type {
  ErasureQuery,
  ErasureRecord,
  EventQuery,
  IngestEvent,
  InsertResult,
  KeyRole,
  KeysToRotate,
  Project,
  ProjectRemoval,
  RemoveProjectOptions,
  StatsQuery,
  StatsResult,
  Store,
  StoredEvent,
} from './store.js';

export { POSTGRES_DEFAULTS, type PostgresStoreOptions } from './postgres-options.js';

/**
 * How long /readyz's probe waits for the lock an insert takes on the events table, ms: past a
 * lock held for a moment (autovacuum's truncation), well within readyTimeoutMs (2000).
 */
const READY_LOCK_WAIT_MS = 250;

/** PostgreSQL's lock_not_available: the lock_timeout above ran out. */
const LOCK_NOT_AVAILABLE = '55P03';

/** How far back each suppression read looks again for entries that committed late, ms. */
const SUPPRESSION_REREAD_MS = 60_000;

/**
 * PostgreSQL store, safe with several `homing serve` processes on one database: every batch
 * is one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` (atomic, exactly once per
 * (project, key), and `rowCount` is exactly the number newly stored), keys sorted so two
 * overlapping batches lock in the same order and cannot deadlock; migrations run under an
 * advisory lock.
 */
export class PostgresStore implements Store {
  private readonly connections: PostgresConnections;
  /** Host, port and database: what errors name. */
  private readonly where: string;
  private readonly maxPropertiesChars: number;
  private readonly projects: PostgresProjects;
  private readonly removal: PostgresProjectRemoval;
  private readonly erasure: PostgresErasure;
  private readonly suppressions: Suppressions;
  /** The suppression read in progress, which every batch arriving meanwhile waits for. */
  private refreshing: Promise<void> | null = null;
  /** Batch inserts past their suppression check and not yet finished (erasure waits for them). */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly erasureSweepMs: number;
  /** When the last suppression read began (its window's start), ms. */
  private suppressionsReadAtMs = 0;
  private readonly sweeps: ErasureSweeps;
  private readonly statistics: EventsStatistics;
  private readonly migrationLockTimeoutMs: number;
  private closing: Promise<void> | null = null;
  /** Set once migrate() has created the schema: from then on ping() also checks it is there. */
  private migrated = false;

  constructor(options: PostgresStoreOptions) {
    const resolved = resolvePostgresOptions(options);
    this.where = resolved.where;
    this.maxPropertiesChars = resolved.maxPropertiesChars;
    this.suppressions = new Suppressions(resolved.suppressionRefreshMs);
    this.erasureSweepMs = resolved.erasureSweepMs;
    this.migrationLockTimeoutMs = resolved.migrationLockTimeoutMs;
    this.connections = new PostgresConnections(resolved);
    this.projects = new PostgresProjects(this.connections);
    this.removal = new PostgresProjectRemoval(this.connections, this.projects, this.suppressions);
    this.erasure = new PostgresErasure(
      this.connections,
      this.suppressions,
      this.writing,
      this.erasureSweepMs,
    );
    const onBackgroundError = resolved.onBackgroundError;
    const reportBackground = (err: unknown): void => {
      // Statements cancelled by close() are no news.
      if (!this.connections.isClosed) onBackgroundError?.(storageError(err, this.where));
    };
    this.sweeps = new ErasureSweeps((fn) => this.connections.inTransaction(fn, 'long'), reportBackground);
    this.statistics = new EventsStatistics(
      (fn) => this.connections.inTransaction(fn, 'long'),
      resolved.statisticsCheckMs,
      reportBackground,
    );
  }

  async migrate(): Promise<void> {
    // A connection of its own, without the statement bounds of the pool's: waiting for another
    // process's migrations and a schema change of a large table may legitimately take long.
    await this.connections.withMigrationClient((client) =>
      applyMigrations(client, this.where, this.migrationLockTimeoutMs),
    );
    await this.refreshSuppressions();
    this.sweeps.start();
    this.statistics.start();
    this.migrated = true;
  }

  /**
   * Runs `ANALYZE events` now if the table's planner statistics are stale and no other process
   * is analyzing it (see EventsStatistics); the store does this by itself every
   * `statisticsCheckMs`. For tools after a bulk load, and tests.
   */
  analyzeIfStale(): Promise<AnalyzeOutcome> {
    this.connections.assertOpen();
    return this.statistics.look();
  }

  /**
   * Fails when PostgreSQL answers but could not store an event now: a standby or a read-only
   * database (a failover target not yet promoted, default_transaction_read_only), or, once
   * migrated, the events table gone or locked against inserts (`LOCK TABLE events`, a schema
   * change waiting or running: every ingest would wait `statementTimeoutMs` and answer 503).
   * `SELECT 1` answered all of them, so /readyz said ready. One short transaction on one
   * connection; the lock probe takes the lock an insert takes and waits at most
   * READY_LOCK_WAIT_MS for it, so a polled /readyz neither hangs nor holds connections.
   */
  async ping(): Promise<void> {
    const cause = await this.connections.inTransaction(async (query) => {
      const r = await query<{ recovery: boolean; read_only: string; events: boolean }>(
        `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only,
                to_regclass('events') IS NOT NULL AS events`,
      );
      const { recovery, read_only: readOnly, events } = r.rows[0]!;
      if (recovery)
        return 'is a standby in recovery (read-only); point --database / HOMING_DATABASE_URL at the primary';
      if (readOnly === 'on')
        return (
          'accepts no writes (transaction_read_only is on: default_transaction_read_only set for ' +
          'the database, role or server, or a read-only replica); turn it off or use the primary'
        );
      if (!this.migrated) return null;
      if (!events)
        return (
          'has no events table (dropped or renamed, or a search_path that does not find it); ' +
          'restore it, or start homing serve on an empty database to create the schema'
        );
      // The locks an ingest batch takes: refused while another session holds or waits for one
      // that conflicts. The insert's (events, ROW EXCLUSIVE: SHARE and stronger conflict), its
      // project row's FOR SHARE (projects ROW SHARE) and the reads of the key lookup, the
      // suppressions refresh and the erased-keys filter (ACCESS SHARE): an ALTER TABLE or
      // VACUUM FULL of any of them (ACCESS EXCLUSIVE) held every batch for its timeout while the
      // events table alone answered ready. Released at once: the transaction writes nothing.
      await query(`SET LOCAL lock_timeout = ${READY_LOCK_WAIT_MS}`);
      for (const [table, mode] of [
        ['events', 'ROW EXCLUSIVE'],
        ['projects', 'ROW SHARE'],
        ['keys_version', 'ACCESS SHARE'],
        ['suppressions', 'ACCESS SHARE'],
        ['erased_keys', 'ACCESS SHARE'],
      ] as const) {
        try {
          await query(`LOCK TABLE ${table} IN ${mode} MODE`);
        } catch (err) {
          if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
          return (
            `has the ${table} table locked by another session (LOCK TABLE, ALTER TABLE, VACUUM FULL, ` +
            'REINDEX, or one waiting for its turn): ingest waits for it and times out'
          );
        }
      }
      return null;
    });
    if (cause === null) return;
    const kind = /^has the \w+ table locked/.test(cause) ? 'timeout' : 'storage';
    throw new StoreError(kind, `PostgreSQL at ${this.where} ${cause}`);
  }

  async createProject(name: string): Promise<Project> {
    return this.projects.create(name);
  }

  async firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    return this.projects.firstOrCreate(name);
  }

  async listProjects(): Promise<Project[]> {
    return this.projects.list();
  }

  async findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    return this.projects.findByKey(key);
  }

  async rotateProjectKeys(projectId: string, which: KeysToRotate): Promise<Project> {
    checkKeysToRotate(which);
    return this.projects.rotateKeys(projectId, which);
  }

  async removeProject(projectId: string, options?: RemoveProjectOptions): Promise<ProjectRemoval> {
    return this.removal.remove(projectId, options);
  }

  async keysVersion(): Promise<number> {
    return this.projects.keysVersion();
  }

  async insertEvents(projectId: string, events: readonly IngestEvent[]): Promise<InsertResult> {
    this.connections.assertOpen();
    const batch = prepareEvents(events, { maxPropertiesChars: this.maxPropertiesChars });
    const pk = await this.projects.pk(projectId);
    if (this.suppressions.due(Date.now())) await this.refreshSuppressions();
    // Common case: no project has an erased person, and this is the only look.
    let erased = this.suppressions.size === 0 ? 0 : this.suppressions.dropSuppressed(projectId, batch);
    const prepared = batch.events;
    if (prepared.length === 0) return { accepted: 0, duplicates: 0, erased };
    // The entries this batch was checked against are those committed when the last read began.
    const viewAtMs = this.suppressionsReadAtMs;
    // No await between the check above and this: an erasure noted after it waits for the write
    // (for a project with erased persons, the look at erased keys and the write, as one).
    let erasedKeys = 0;
    const write = this.suppressions.has(projectId)
      ? writeUnlessErased(this.connections, pk, batch, (n) => (erasedKeys = n))
      : writeEvents(this.connections, pk, batch);
    this.writing.add(write);
    let inserted: Buffer[];
    try {
      inserted = await write;
    } catch (err) {
      // Removed since its pk was cached here (by another process, or while this batch waited).
      if (err instanceof ProjectRemovedError) this.projects.forget(projectId);
      throw err;
    } finally {
      this.writing.delete(write);
    }
    // writeUnlessErased took them out of `prepared` (the same array): counted here only.
    erased += erasedKeys;
    // An erasure this batch's check missed committed after `viewAtMs`, and its second deletion
    // runs `erasureSweepMs` after that commit: it covers this write only if the write committed
    // within `erasureSweepMs` of `viewAtMs`. A slower one (a pool queue, a lock, a slow read)
    // looks again itself, after its commit: an erasure committed before this look is found; one
    // after it deletes these rows with its own DELETE.
    if (Date.now() - viewAtMs > this.erasureSweepMs - LATE_WRITE_MARGIN_MS) {
      const late = await dropLateErased(this.connections, this.suppressions, projectId, pk, batch, inserted);
      const accepted = inserted.length - late.inserted;
      return { accepted, duplicates: prepared.length - accepted - late.events, erased: erased + late.events };
    }
    return { accepted: inserted.length, duplicates: prepared.length - inserted.length, erased };
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const checked = checkQuery(q);
    const pk = await this.projects.pkOrNull(q.projectId);
    if (pk === null) return [];
    return readEventPage(this.connections, pk, q, checked);
  }

  async *personEvents(projectId: string, distinctId: string): AsyncIterable<StoredEvent> {
    const pk = await this.projects.pkOrNull(projectId);
    if (pk === null) return;
    yield* readPersonEvents(this.connections, pk, projectId, distinctId);
  }

  async erasePerson(projectId: string, distinctId: string, requestedBy: string): Promise<number> {
    checkErasure(distinctId, requestedBy);
    const pk = await this.projects.pk(projectId);
    return this.erasure.erase(projectId, pk, distinctId, requestedBy);
  }

  async listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    const beforeSeq = checkErasureQuery(q);
    const pk = await this.projects.pkOrNull(q.projectId);
    if (pk === null) return [];
    return this.erasure.list(pk, q.projectId, beforeSeq, q.limit);
  }

  async deleteEventsBefore(cutoff: string, limit: number): Promise<number> {
    const cutoffMs = checkRetention(cutoff, limit);
    return deleteEventsBefore(this.connections, cutoffMs, limit);
  }

  async stats(q: StatsQuery): Promise<StatsResult> {
    const { fromMs, toMs, intervalMs, maxEvents } = checkStats(q);
    const pk = await this.projects.pkOrNull(q.projectId);
    if (pk === null) return buildBuckets(fromMs, toMs, intervalMs, []);
    const { rows, otherNames } = await countEventsByBucket(
      this.connections,
      pk,
      fromMs,
      toMs,
      intervalMs,
      maxEvents,
    );
    return buildBuckets(fromMs, toMs, intervalMs, rows, otherNames);
  }

  /**
   * Refuses new calls, gives calls in flight `closeTimeoutMs` to finish, then cancels the
   * statements still running (see `PostgresConnections.close`). Idempotent: every call answers
   * the same promise.
   */
  close(): Promise<void> {
    // Sweeps not yet due stay marked in the table: the other processes, or the next start, run
    // them when they are due (run now, they would miss what others store until then).
    this.closing ??= this.connections.close(Promise.all([this.sweeps.stop(), this.statistics.stop()]));
    return this.closing;
  }

  /**
   * Reads suppression entries committed since the last read (other processes' erasures): one
   * index range scan of an append-only table, empty in the common case. Batches arriving while
   * it runs wait for the same read.
   */
  private refreshSuppressions(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const startedAt = Date.now();
        // Ids are handed out before commit, so an entry can commit after one with a higher id
        // that an earlier read already saw: the entries of the last minute are read again.
        const r = await this.connections.query<{
          id: string;
          project_id: string;
          hash: Buffer;
          erased_at_ms: string;
        }>(
          `SELECT s.id, p.id AS project_id, s.hash, s.erased_at_ms FROM suppressions s
           JOIN projects p ON p.pk = s.project_pk WHERE s.id > $1 OR s.erased_at_ms > $2`,
          [this.suppressions.lastId, this.suppressionsReadAtMs - SUPPRESSION_REREAD_MS],
        );
        this.suppressionsReadAtMs = startedAt;
        this.suppressions.load(
          r.rows.map((row) => ({
            id: Number(row.id),
            projectId: row.project_id,
            hash: row.hash,
            erasedAtMs: Number(row.erased_at_ms),
          })),
          startedAt,
        );
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
