import type pg from 'pg';
import { StoreError } from './errors.js';
import { PostgresConnections, type TxQuery } from './postgres-connections.js';
import { storageError } from './postgres-errors.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { refuseNewerSchema } from './newer-schema.js';
import { ErasureSweeps, KEEP_ERASED_KEYS } from './postgres-erasure-sweeps.js';
import { type PostgresStoreOptions, resolvePostgresOptions } from './postgres-options.js';
import {
  EVENT_COLUMNS,
  type EventRow,
  type ProjectRow,
  projectParams,
  toEvent,
  toProject,
} from './postgres-rows.js';
import {
  type PreparedBatch,
  buildBuckets,
  checkErasure,
  checkErasureQuery,
  checkProjectName,
  checkQuery,
  checkRetention,
  checkStats,
  prepareEvents,
} from './prepare-events.js';
import { parseIsoMs } from './parse-iso.js';
import { keyHash, newProject, sameKey } from './project-keys.js';
import { suppressionHash, Suppressions } from './suppressions.js';
import type {
  ErasureQuery,
  ErasureRecord,
  EventQuery,
  IngestEvent,
  InsertResult,
  KeyRole,
  Project,
  StatsBucket,
  StatsQuery,
  Store,
  StoredEvent,
} from './store.js';

export { POSTGRES_DEFAULTS, type PostgresStoreOptions } from './postgres-options.js';

/**
 * A write that committed later than the sweep delay, less this, after the suppression read it
 * was checked against began reads the entries again after its commit (see `insertEvents`).
 */
const LATE_WRITE_MARGIN_MS = 250;
/** How far back each suppression read looks again for entries that committed late, ms. */
const SUPPRESSION_REREAD_MS = 60_000;

/** Tries of a migration that waited out `migrationLockTimeoutMs`, and the pause between them. */
const MIGRATION_LOCK_ATTEMPTS = 6;
const MIGRATION_RETRY_MS = 1000;

/** Key of the advisory lock that serialises migrations of concurrent `homing serve` starts. */
const MIGRATION_LOCK = 0x686f6d696e67; // "homing"
/** Key of the transaction-scoped lock under which a start on an empty database creates its project. */
const FIRST_PROJECT_LOCK = MIGRATION_LOCK + 1;
const EXPORT_PAGE = 500;
const INSERT_EVENTS = `INSERT INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
       SELECT $1, * FROM unnest($2::bytea[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::json[])
       ON CONFLICT (project_pk, key) DO NOTHING RETURNING key`;
const INSERT_PROJECT = `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pk`;
/** Deadlock and serialization failures: the transaction did nothing and may be run again. */
const RETRYABLE = new Set(['40P01', '40001']);
/** Tries of long work (an erasure, retention) that PostgreSQL aborted as above, and the base pause, ms. */
const DEADLOCK_ATTEMPTS = 4;
const DEADLOCK_PAUSE_MS = 50;
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
  private readonly projectPks = new Map<string, string>();
  private readonly suppressions: Suppressions;
  /** The suppression read in progress, which every batch arriving meanwhile waits for. */
  private refreshing: Promise<void> | null = null;
  /** Batch inserts past their suppression check and not yet finished (erasure waits for them). */
  private readonly writing = new Set<Promise<unknown>>();
  private readonly erasureSweepMs: number;
  /** When the last suppression read began (its window's start), ms. */
  private suppressionsReadAtMs = 0;
  private readonly sweeps: ErasureSweeps;
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
    const onBackgroundError = resolved.onBackgroundError;
    this.sweeps = new ErasureSweeps(
      (fn) => this.connections.inTransaction(fn, 'long'),
      (err) => {
        // Statements cancelled by close() are no news.
        if (!this.connections.isClosed) onBackgroundError?.(storageError(err, this.where));
      },
    );
  }

  async migrate(): Promise<void> {
    // A connection of its own, without the statement bounds of the pool's: waiting for another
    // process's migrations and a schema change of a large table may legitimately take long.
    await this.connections.withMigrationClient(async (client) => {
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
        refuseNewerSchema('PostgreSQL', this.where, done, POSTGRES_MIGRATIONS);
        for (const m of POSTGRES_MIGRATIONS) {
          if (done.has(m.version)) continue;
          for (let attempt = 1; ; attempt++) {
            try {
              await client.query('BEGIN');
              // A schema change queued behind another session's lock holds up every reader of
              // the table queued behind it: wait a bounded time, then let go and try again.
              if (this.migrationLockTimeoutMs > 0) {
                await client.query(`SET LOCAL lock_timeout = ${this.migrationLockTimeoutMs}`);
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
                      `${this.migrationLockTimeoutMs} ms for a table lock another session holds; nothing of it ` +
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
    });
    await this.refreshSuppressions();
    this.sweeps.start();
    this.migrated = true;
  }

  /**
   * Fails, in one round trip, when PostgreSQL answers but could not store an event: a standby or
   * a read-only database (a failover target not yet promoted, default_transaction_read_only) or,
   * once migrated, the events table gone. `SELECT 1` answered all of them, so /readyz said ready.
   */
  async ping(): Promise<void> {
    const r = await this.connections.query<{ recovery: boolean; read_only: string; events: boolean }>(
      `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS read_only,
              to_regclass('events') IS NOT NULL AS events`,
    );
    const { recovery, read_only: readOnly, events } = r.rows[0]!;
    const cause = recovery
      ? 'is a standby in recovery (read-only); point --database / HOMING_DATABASE_URL at the primary'
      : readOnly === 'on'
        ? 'accepts no writes (transaction_read_only is on: default_transaction_read_only set for ' +
          'the database, role or server, or a read-only replica); turn it off or use the primary'
        : this.migrated && !events
          ? 'has no events table (dropped or renamed, or a search_path that does not find it); ' +
            'restore it, or start homing serve on an empty database to create the schema'
          : null;
    if (cause !== null) throw new StoreError('storage', `PostgreSQL at ${this.where} ${cause}`);
  }

  async createProject(name: string): Promise<Project> {
    checkProjectName(name);
    const p = newProject(name);
    const r = await this.connections.query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
    this.projectPks.set(p.id, r.rows[0]!.pk);
    return p;
  }

  async firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    checkProjectName(name);
    const result = await this.connections.inTransaction(async (query) => {
      // Held until COMMIT, so the next process to get it already sees this one's project (each
      // statement of a READ COMMITTED transaction reads what was committed before it began).
      await query('SELECT pg_advisory_xact_lock($1)', [FIRST_PROJECT_LOCK]);
      const first = (await query<ProjectRow>('SELECT * FROM projects ORDER BY pk LIMIT 1')).rows[0];
      if (first !== undefined) return { project: toProject(first), created: false, pk: first.pk };
      const p = newProject(name);
      const r = await query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
      return { project: p, created: true, pk: r.rows[0]!.pk };
    });
    if (result.created) this.projectPks.set(result.project.id, result.pk);
    return { project: result.project, created: result.created };
  }

  async listProjects(): Promise<Project[]> {
    return (await this.connections.query<ProjectRow>('SELECT * FROM projects ORDER BY pk')).rows.map(
      toProject,
    );
  }

  async findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = (
      await this.connections.query<ProjectRow>(
        'SELECT * FROM projects WHERE write_key_hash = $1 OR admin_key_hash = $1',
        [h],
      )
    ).rows[0];
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  async insertEvents(projectId: string, events: readonly IngestEvent[]): Promise<InsertResult> {
    this.connections.assertOpen();
    const batch = prepareEvents(events, { maxPropertiesChars: this.maxPropertiesChars });
    const pk = await this.projectPk(projectId);
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
      ? this.writeUnlessErased(pk, batch, (n) => (erasedKeys = n))
      : this.writeEvents(pk, batch);
    this.writing.add(write);
    let inserted: Buffer[];
    try {
      inserted = await write;
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
      const late = await this.dropLateErased(projectId, pk, batch, inserted);
      const accepted = inserted.length - late.inserted;
      return { accepted, duplicates: prepared.length - accepted - late.events, erased: erased + late.events };
    }
    return { accepted: inserted.length, duplicates: prepared.length - inserted.length, erased };
  }

  /**
   * The batch's events of persons erased at or after their timestamp or their receipt (the rule
   * of the erasure's own DELETE and of the second deletion), reading the suppression entries of
   * the batch's persons now (not the refreshed copy). Counts them all as erased (`events`; of
   * them, `inserted` were stored by this call) and deletes them where stored, matched by key
   * AND person AND the erasure's rule: never another person's event that shares a key.
   */
  private async dropLateErased(
    projectId: string,
    pk: string,
    batch: PreparedBatch,
    inserted: readonly Buffer[],
  ): Promise<{ events: number; inserted: number }> {
    const hashes = new Map<string, Buffer>();
    for (const e of batch.events) {
      if (!hashes.has(e.distinctId)) hashes.set(e.distinctId, suppressionHash(projectId, e.distinctId));
    }
    const found = await this.connections.query<{ hash: Buffer; erased_at_ms: string }>(
      'SELECT hash, max(erased_at_ms) AS erased_at_ms FROM suppressions WHERE project_pk = $1 AND hash = ANY($2::bytea[]) GROUP BY hash',
      [pk, [...hashes.values()]],
    );
    if (found.rows.length === 0) return { events: 0, inserted: 0 };
    const erasedAt = new Map(found.rows.map((r) => [r.hash.toString('latin1'), Number(r.erased_at_ms)]));
    for (const r of found.rows) this.suppressions.note(projectId, r.hash, Number(r.erased_at_ms));
    // Keys this call stored; of two events of the batch under one key, the first was stored (the
    // sort in writeEvents is stable, and ON CONFLICT skips the later one).
    const written = new Set(inserted.map((k) => k.toString('latin1')));
    const receivedMs = new Map<string, number>();
    let events = 0;
    let ours = 0;
    const keys: Buffer[] = [];
    const persons: string[] = [];
    const atMs: number[] = [];
    const atIso: string[] = [];
    batch.events.forEach((e, i) => {
      const key = batch.keys.subarray(i * 16, i * 16 + 16);
      const stored = written.delete(key.toString('latin1'));
      const at = erasedAt.get(hashes.get(e.distinctId)!.toString('latin1'));
      if (at === undefined) return;
      let received = receivedMs.get(e.receivedAt);
      if (received === undefined) receivedMs.set(e.receivedAt, (received = parseIsoMs(e.receivedAt)));
      if (!(e.tsMs <= at || received <= at)) return;
      events++;
      if (stored) ours++;
      // A duplicate too: the row under its key, if it is this person's and erased by the rule,
      // is what the erasure's second deletion would take (an earlier unswept write).
      keys.push(key);
      persons.push(e.distinctId);
      atMs.push(at);
      atIso.push(new Date(at).toISOString());
    });
    if (keys.length > 0) {
      // Matched on what is stored, as the erasure matches, not on the batch's copy.
      // Their keys are kept as the erasure keeps those it deletes: a resend of one of them,
      // which the server may date after the erasure, is then erased at ingest, not stored.
      await this.connections.query(
        `WITH l AS (SELECT * FROM unnest($2::bytea[], $3::text[], $4::bigint[], $5::text[]) AS l(key, distinct_id, at_ms, at_iso)),
         gone AS (
           DELETE FROM events e USING l
           WHERE e.project_pk = $1 AND e.key = l.key AND e.distinct_id = l.distinct_id
             AND (e.ts <= l.at_ms OR e.received_at <= l.at_iso)
         )
         INSERT INTO erased_keys (project_pk, key, erased_at_ms)
         SELECT $1, key, max(at_ms) FROM l GROUP BY key
         ON CONFLICT (project_pk, key) DO UPDATE SET erased_at_ms = greatest(erased_keys.erased_at_ms, EXCLUDED.erased_at_ms)`,
        [pk, keys, persons, atMs, atIso],
      );
    }
    return { events, inserted: ours };
  }

  /**
   * For a project with erased persons: takes the batch's events whose keys an erasure deleted
   * (`erased_keys`) out of the batch, in place (`batch.events` stays the same array), reports
   * how many, and writes the rest. One indexed lookup per batch; a resend of an erased event is
   * erased, not stored, whatever timestamp the server gave it (see suppressions.ts).
   */
  private async writeUnlessErased(
    pk: string,
    batch: PreparedBatch,
    onErased: (n: number) => void,
  ): Promise<Buffer[]> {
    const n = batch.events.length;
    const keyOf = (i: number): Buffer => batch.keys.subarray(i * 16, i * 16 + 16);
    const found = await this.connections.query<{ key: Buffer }>(
      'SELECT key FROM erased_keys WHERE project_pk = $1 AND key = ANY($2::bytea[])',
      [pk, Array.from({ length: n }, (_, i) => keyOf(i))],
    );
    if (found.rows.length > 0) {
      const gone = new Set(found.rows.map((r) => r.key.toString('latin1')));
      const kept: number[] = [];
      for (let i = 0; i < n; i++) if (!gone.has(keyOf(i).toString('latin1'))) kept.push(i);
      const keys = Buffer.allocUnsafe(16 * kept.length);
      const events = kept.map((i, j) => {
        batch.keys.copy(keys, 16 * j, 16 * i, 16 * i + 16);
        return batch.events[i]!;
      });
      events.forEach((e, j) => (batch.events[j] = e));
      batch.events.length = events.length;
      batch.keys = keys;
      onErased(n - kept.length);
    }
    return batch.events.length === 0 ? [] : this.writeEvents(pk, batch);
  }

  /** One INSERT of the batch; resolves the keys it stored (the events that were new). */
  private async writeEvents(pk: string, { events: prepared, keys }: PreparedBatch): Promise<Buffer[]> {
    const keyOf = prepared.map((_, i) => keys.subarray(i * 16, i * 16 + 16));
    // Same lock order for every batch: overlapping concurrent batches cannot deadlock.
    const order = prepared.map((_, i) => i).sort((a, b) => Buffer.compare(keyOf[a]!, keyOf[b]!));
    const sorted = order.map((i) => prepared[i]!);
    const r = await this.retryingConflicts<{ key: Buffer }>(INSERT_EVENTS, [
      pk,
      order.map((i) => keyOf[i]),
      sorted.map((e) => e.uuidText),
      sorted.map((e) => e.event),
      sorted.map((e) => e.distinctId),
      sorted.map((e) => e.tsMs),
      sorted.map((e) => e.originalTimestamp),
      sorted.map((e) => e.receivedAt),
      sorted.map((e) => e.propertiesJson),
    ]);
    return r.rows.map((row) => row.key);
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    const { sinceMs, untilMs, before } = checkQuery(q);
    const pk = await this.projectPkOrNull(q.projectId);
    if (pk === null) return [];
    const where = ['project_pk = $1'];
    const params: unknown[] = [pk];
    const add = (sql: string, v: unknown): void => {
      params.push(v);
      where.push(`${sql} $${params.length}`);
    };
    if (q.event !== undefined) add('event =', q.event);
    if (q.distinctId !== undefined) add('distinct_id =', q.distinctId);
    if (sinceMs !== null) add('ts >=', sinceMs);
    if (untilMs !== null) add('ts <', untilMs);
    if (before !== null) {
      params.push(before.tsMs, before.seq);
      where.push(`(ts, seq) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(q.limit);
    const r = await this.connections.longQuery<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE ${where.join(' AND ')} ORDER BY ts DESC, seq DESC LIMIT $${params.length}`,
      params,
    );
    return r.rows.map((row) => toEvent(q.projectId, row));
  }

  async *personEvents(projectId: string, distinctId: string): AsyncIterable<StoredEvent> {
    const pk = await this.projectPkOrNull(projectId);
    if (pk === null) return;
    // Keyset pages: no transaction or cursor held open while the consumer is slow.
    let after: [string, string] = [String(Number.MIN_SAFE_INTEGER), '-1'];
    for (;;) {
      const r = await this.connections.longQuery<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE project_pk = $1 AND distinct_id = $2 AND (ts, seq) > ($3, $4)
         ORDER BY ts, seq LIMIT ${EXPORT_PAGE}`,
        [pk, distinctId, after[0], after[1]],
      );
      for (const row of r.rows) yield toEvent(projectId, row);
      if (r.rows.length < EXPORT_PAGE) return;
      const last = r.rows[r.rows.length - 1]!;
      after = [last.ts, last.seq];
    }
  }

  async erasePerson(projectId: string, distinctId: string, requestedBy: string): Promise<number> {
    checkErasure(distinctId, requestedBy);
    const pk = await this.projectPk(projectId);
    const hash = suppressionHash(projectId, String(distinctId));
    const erasedAt = new Date();
    // The suppression entry first, committed on its own: other processes pick it up at their
    // next refresh, this one at once. If the deletion below fails, the entry stays; the request
    // answers an error and a retry deletes the events.
    await this.connections.query(
      'INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES ($1, $2, $3)',
      [pk, hash, erasedAt.getTime()],
    );
    // The second deletion counts from here, when the entry is committed (its insert may have
    // waited): other processes can miss it until their first read after this moment.
    const enteredAtMs = Date.now();
    this.suppressions.note(projectId, hash, erasedAt.getTime());
    // Batches that passed their check before the note may still be writing: the deletion must
    // come after them, or their events would outlive it.
    await Promise.allSettled([...this.writing]);
    // A deadlock with the retention DELETE (both lock the person's rows, in different orders) or
    // a serialization failure rolled the transaction back whole: run it again, as ingest does,
    // rather than answer 503 with the suppression entry committed and the events still there.
    return this.retryingTransaction(async (query) => {
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
      await query(
        `INSERT INTO erasures (project_pk, distinct_id, requested_by, deleted_count, erased_at, erased_at_ms, sweep_due_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          pk,
          distinctId,
          String(requestedBy),
          n,
          erasedAt.toISOString(),
          erasedAt.getTime(),
          this.erasureSweepMs === 0 ? null : enteredAtMs + this.erasureSweepMs,
        ],
      );
      return n;
    });
  }

  /**
   * `fn` in one transaction with the bound for long work, run again when PostgreSQL aborted it
   * for a deadlock or a serialization failure (see `retryingDeadlocks`).
   */
  private retryingTransaction<T>(fn: (query: TxQuery) => Promise<T>): Promise<T> {
    return this.retryingDeadlocks(() => this.connections.inTransaction(fn, 'long'));
  }

  async listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    const beforeSeq = checkErasureQuery(q);
    const pk = await this.projectPkOrNull(q.projectId);
    if (pk === null) return [];
    const r = await this.connections.longQuery<{
      id: string;
      distinct_id: string;
      requested_by: string;
      deleted_count: number;
      erased_at: string;
    }>(
      `SELECT id, distinct_id, requested_by, deleted_count, erased_at FROM erasures
       WHERE project_pk = $1 AND id < $2 ORDER BY id DESC LIMIT $3`,
      [pk, beforeSeq, q.limit],
    );
    return r.rows.map((row) => ({
      seq: Number(row.id),
      projectId: q.projectId,
      distinctId: row.distinct_id,
      requestedBy: row.requested_by,
      deletedCount: row.deleted_count,
      erasedAt: row.erased_at,
    }));
  }

  async deleteEventsBefore(cutoff: string, limit: number): Promise<number> {
    const cutoffMs = checkRetention(cutoff, limit);
    const pks = (
      await this.connections.query<{ pk: string }>('SELECT pk FROM projects ORDER BY pk')
    ).rows.map((r) => r.pk);
    let deleted = 0;
    for (const pk of pks) {
      if (deleted >= limit) break;
      // Rows locked oldest first, skipping those another transaction holds (an erasure, another
      // process's retention run, a late-write re-check: each deletes them itself), so this never
      // waits on a row lock: no deadlock with an erasure locking in its index's order, and
      // several processes' runs share the work instead of queueing on the same rows.
      const r = await this.retryingDeadlocks(() =>
        this.connections.longQuery(
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

  async stats(q: StatsQuery): Promise<StatsBucket[]> {
    const { fromMs, toMs, intervalMs } = checkStats(q);
    const pk = await this.projectPkOrNull(q.projectId);
    const rows =
      pk === null
        ? []
        : (
            await this.connections.longQuery<{ b: string; event: string; n: string }>(
              `SELECT (ts - $1) / $2 AS b, event, count(*) AS n FROM events
               WHERE project_pk = $3 AND ts >= $1 AND ts < $4 GROUP BY b, event`,
              [fromMs, intervalMs, pk, toMs],
            )
          ).rows.map((r) => ({ b: Number(r.b), event: r.event, n: Number(r.n) }));
    return buildBuckets(fromMs, toMs, intervalMs, rows);
  }

  /**
   * Refuses new calls, gives calls in flight `closeTimeoutMs` to finish, then cancels the
   * statements still running (see `PostgresConnections.close`). Idempotent: every call answers
   * the same promise.
   */
  close(): Promise<void> {
    // Sweeps not yet due stay marked in the table: the other processes, or the next start, run
    // them when they are due (run now, they would miss what others store until then).
    this.closing ??= this.connections.close(this.sweeps.stop());
    return this.closing;
  }

  /**
   * Sorted keys keep batches from deadlocking each other, but a batch can still meet an erasure
   * or retention delete; PostgreSQL then aborts one side, which did nothing, so it is run again.
   */
  private async retryingConflicts<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params: unknown[],
  ): Promise<pg.QueryResult<R>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connections.query<R>(sql, params);
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
  private async retryingDeadlocks<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        const code = ((err as StoreError).cause as { code?: string } | undefined)?.code;
        if (attempt >= DEADLOCK_ATTEMPTS || code === undefined || !RETRYABLE.has(code)) throw err;
        this.connections.assertOpen();
        // Spread out, so two processes that deadlocked do not meet again at once.
        await new Promise((resolve) =>
          setTimeout(resolve, DEADLOCK_PAUSE_MS * attempt * (0.5 + Math.random())),
        );
      }
    }
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

  private async projectPk(projectId: string): Promise<string> {
    const pk = await this.projectPkOrNull(projectId);
    if (pk === null) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    return pk;
  }

  private async projectPkOrNull(projectId: string): Promise<string | null> {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const r = await this.connections.query<{ pk: string }>('SELECT pk FROM projects WHERE id = $1', [
      projectId,
    ]);
    const pk = r.rows[0]?.pk ?? null;
    if (pk !== null) this.projectPks.set(projectId, pk);
    return pk;
  }
}
