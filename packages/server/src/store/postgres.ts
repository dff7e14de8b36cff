import pg from 'pg';
import { StoreError } from './errors.js';
import { formatUuid } from './event-key.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { ErasureSweeps } from './postgres-erasure-sweeps.js';
import {
  type PreparedBatch,
  buildBuckets,
  checkErasureQuery,
  checkProjectName,
  checkQuery,
  checkStats,
  prepareEvents,
} from './prepare-events.js';
import { keyHash, newProject, sameKey } from './project-keys.js';
import { SUPPRESSION_REFRESH_MS, suppressionHash, Suppressions } from './suppressions.js';
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

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database` */
  url: string;
  /** Connections in the pool. Default 10. */
  poolSize?: number;
  /** How long to wait for a connection, ms. Default 5000. */
  connectTimeoutMs?: number;
  /** Largest serialized `properties` of one event, characters. Default 1 000 000. */
  maxPropertiesChars?: number;
  /**
   * How often, at most, ingest reads suppression entries (erasures) other processes committed,
   * ms; this store's own erasures apply at once. Default 1000.
   */
  suppressionRefreshMs?: number;
  /**
   * How long after an erasure this store deletes the person's events timestamped at or before it
   * a second time, ms: other processes on the database may have stored some of them before their
   * next read of suppression entries (`suppressionRefreshMs`). 0: no second deletion. Default
   * twice `suppressionRefreshMs` plus one second.
   */
  erasureSweepMs?: number;
  /**
   * Longest a statement of ingest, readiness (`ping`), key lookups and project creation may run,
   * ms, waiting for locks included: PostgreSQL then cancels it (its transaction rolls back) and
   * the call fails with a `timeout` error (the server answers 503 + Retry-After). The driver
   * gives up on its own this much plus two seconds later (a server or network that does not
   * answer at all) and discards the connection. 0: no bound. Default 5000.
   */
  statementTimeoutMs?: number;
  /**
   * The same bound for work that may legitimately touch many rows: erasure, retention batches,
   * second deletions and the admin API's reads (queries, export, stats, erasure log). Migrations
   * have no bound of this store's (a schema change takes as long as it takes; they run before
   * the server listens). 0: no bound. Default 300 000 (five minutes).
   */
  longStatementTimeoutMs?: number;
  /**
   * How long one migration statement waits for a table lock another session holds, ms, before
   * it lets go (every reader queued behind it waits too) and tries again, up to 6 times a second
   * apart; then the start fails with a `migration` error. 0: no bound. Default 5000.
   */
  migrationLockTimeoutMs?: number;
  /**
   * On close, how long calls in flight may take to finish, ms; statements still running then are
   * cancelled (their transactions roll back) and, if the server does not answer, their
   * connections closed, so close() ends. Default 2000.
   */
  closeTimeoutMs?: number;
  /**
   * Called with a StoreError when background work fails: a second deletion after an erasure
   * (`erasureSweepMs`), which is tried again a second later. The error names the failure (its
   * kind, PostgreSQL's message, `cause.code`), never an event's content or a distinct_id.
   * Default: ignored.
   */
  onBackgroundError?: (error: StoreError) => void;
}

/**
 * A write that committed later than the sweep delay, less this, after the suppression read it
 * was checked against began reads the entries again after its commit (see `insertEvents`).
 */
const LATE_WRITE_MARGIN_MS = 250;
/** How far back each suppression read looks again for entries that committed late, ms. */
const SUPPRESSION_REREAD_MS = 60_000;

/** The second deletion after an erasure waits two of the other processes' refresh intervals and a second. */
const sweepDelayFor = (suppressionRefreshMs: number): number => 2 * suppressionRefreshMs + 1000;

export const POSTGRES_DEFAULTS = {
  poolSize: 10,
  connectTimeoutMs: 5000,
  maxPropertiesChars: 1_000_000,
  suppressionRefreshMs: SUPPRESSION_REFRESH_MS,
  erasureSweepMs: sweepDelayFor(SUPPRESSION_REFRESH_MS),
  statementTimeoutMs: 5000,
  longStatementTimeoutMs: 300_000,
  closeTimeoutMs: 2000,
  migrationLockTimeoutMs: 5000,
} as const;

/** Tries of a migration that waited out `migrationLockTimeoutMs`, and the pause between them. */
const MIGRATION_LOCK_ATTEMPTS = 6;
const MIGRATION_RETRY_MS = 1000;

/**
 * How much longer than a statement's own bound the driver waits for its answer before giving
 * up on the connection: PostgreSQL's cancellation comes first when the server answers at all.
 */
const CLIENT_TIMEOUT_MARGIN_MS = 2000;
/** Largest timeout option: PostgreSQL's settings are 32-bit, as are Node's timers. */
const MAX_TIMEOUT_MS = 2_147_483_647 - CLIENT_TIMEOUT_MARGIN_MS;
/** After cancelling the statements still running at close, how long to wait for their answers, ms. */
const CANCEL_WAIT_MS = 2000;

/** Key of the advisory lock that serialises migrations of concurrent `homing serve` starts. */
const MIGRATION_LOCK = 0x686f6d696e67; // "homing"
/** Key of the transaction-scoped lock under which a start on an empty database creates its project. */
const FIRST_PROJECT_LOCK = MIGRATION_LOCK + 1;
const EXPORT_PAGE = 500;
const INSERT_EVENTS = `INSERT INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
       SELECT $1, * FROM unnest($2::bytea[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::json[])
       ON CONFLICT (project_pk, key) DO NOTHING`;
const INSERT_PROJECT = `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING pk`;
/** Deadlock and serialization failures: the transaction did nothing and may be run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const EVENT_COLUMNS =
  'seq, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties::text AS properties';

interface EventRow {
  seq: string;
  key: Buffer;
  uuid_text: string | null;
  event: string;
  distinct_id: string;
  ts: string;
  original_ts: string | null;
  received_at: string;
  properties: string;
}

interface ProjectRow {
  pk: string;
  id: string;
  name: string;
  write_key: string;
  admin_key: string;
  created_at: string;
}

/**
 * PostgreSQL store, safe with several `homing serve` processes on one database: every batch
 * is one `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` (atomic, exactly once per
 * (project, key), and `rowCount` is exactly the number newly stored), keys sorted so two
 * overlapping batches lock in the same order and cannot deadlock; migrations run under an
 * advisory lock.
 */
export class PostgresStore implements Store {
  private readonly pool: pg.Pool;
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
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly url: string;
  private readonly connectTimeoutMs: number;
  private readonly longStatementTimeoutMs: number;
  /** The driver's own bound on a long statement (see `longStatementTimeoutMs`), ms; 0: none. */
  private readonly longClientTimeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly migrationLockTimeoutMs: number;
  /** Connections running a call (checked out of the pool, or migrating): close() cancels them. */
  private readonly busy = new Set<pg.ClientBase>();
  /** Called whenever `busy` becomes empty. */
  private idleWaiters: (() => void)[] = [];

  constructor(options: PostgresStoreOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new StoreError('unsupported-url', 'the PostgreSQL URL is not a valid URL');
    }
    // Never echo the password: name only host, port and database in errors.
    this.where = `${url.hostname}:${url.port || 5432}${url.pathname}`;
    const poolSize = options.poolSize ?? POSTGRES_DEFAULTS.poolSize;
    const connectTimeoutMs = options.connectTimeoutMs ?? POSTGRES_DEFAULTS.connectTimeoutMs;
    this.maxPropertiesChars = options.maxPropertiesChars ?? POSTGRES_DEFAULTS.maxPropertiesChars;
    const refreshMs = options.suppressionRefreshMs ?? POSTGRES_DEFAULTS.suppressionRefreshMs;
    if (!Number.isInteger(refreshMs) || refreshMs < 0 || refreshMs > MAX_TIMEOUT_MS) {
      throw new StoreError(
        'invalid-input',
        `PostgresStore option suppressionRefreshMs must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
      );
    }
    this.suppressions = new Suppressions(refreshMs);
    this.erasureSweepMs = options.erasureSweepMs ?? Math.min(sweepDelayFor(refreshMs), MAX_TIMEOUT_MS);
    if (
      !Number.isInteger(this.erasureSweepMs) ||
      this.erasureSweepMs < 0 ||
      this.erasureSweepMs > MAX_TIMEOUT_MS
    ) {
      throw new StoreError(
        'invalid-input',
        `PostgresStore option erasureSweepMs must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
      );
    }
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new StoreError('invalid-input', 'PostgresStore option poolSize must be an integer ≥ 1');
    }
    if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1 || connectTimeoutMs > MAX_TIMEOUT_MS) {
      throw new StoreError(
        'invalid-input',
        `PostgresStore option connectTimeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`,
      );
    }
    const timeout = (name: keyof typeof POSTGRES_DEFAULTS, v: number | undefined): number => {
      const ms = v ?? (POSTGRES_DEFAULTS[name] as number);
      if (!Number.isInteger(ms) || ms < 0 || ms > MAX_TIMEOUT_MS) {
        throw new StoreError(
          'invalid-input',
          `PostgresStore option ${name} must be an integer from 0 to ${MAX_TIMEOUT_MS}`,
        );
      }
      return ms;
    };
    const statementTimeoutMs = timeout('statementTimeoutMs', options.statementTimeoutMs);
    this.longStatementTimeoutMs = timeout('longStatementTimeoutMs', options.longStatementTimeoutMs);
    this.longClientTimeoutMs =
      this.longStatementTimeoutMs === 0
        ? MAX_TIMEOUT_MS
        : this.longStatementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS;
    this.closeTimeoutMs = timeout('closeTimeoutMs', options.closeTimeoutMs);
    this.migrationLockTimeoutMs = timeout('migrationLockTimeoutMs', options.migrationLockTimeoutMs);
    this.url = options.url;
    this.connectTimeoutMs = connectTimeoutMs;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: poolSize,
      // Also bounds the wait for a free connection when every one is busy.
      connectionTimeoutMillis: connectTimeoutMs,
      // The driver's own bound, for a server or network that does not answer at all.
      ...(statementTimeoutMs === 0 ? {} : { query_timeout: statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS }),
    });
    const onBackgroundError = options.onBackgroundError;
    this.sweeps = new ErasureSweeps(
      (fn) => this.inTransaction(fn, 'long'),
      (err) => {
        // Statements cancelled by close() are no news.
        if (!this.closed) onBackgroundError?.(storageError(err, this.where));
      },
    );
    // An idle client losing its connection must not crash the process; the next query reconnects.
    this.pool.on('error', () => {});
    if (statementTimeoutMs > 0) {
      // Every statement is bounded by the server, waiting for locks included, unless a transaction
      // raises it (`inTransaction(…, 'long')`). Set once per connection, queued ahead of its first
      // query (pg-pool emits 'connect' before handing the client out). Not as a startup parameter:
      // PgBouncer refuses unknown ones, and its ignore_startup_parameters would drop the bound.
      this.pool.on('connect', (client) => {
        client.query(`SET statement_timeout = ${statementTimeoutMs}`).catch(() => {
          // The connection is broken: the query behind this one fails and says so.
        });
      });
    }
  }

  async migrate(): Promise<void> {
    // A connection of its own, without the statement bounds of the pool's: waiting for another
    // process's migrations and a schema change of a large table may legitimately take long.
    await this.withMigrationClient(async (client) => {
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
  }

  async ping(): Promise<void> {
    await this.query('SELECT 1');
  }

  async createProject(name: string): Promise<Project> {
    checkProjectName(name);
    const p = newProject(name);
    const r = await this.query<{ pk: string }>(INSERT_PROJECT, projectParams(p));
    this.projectPks.set(p.id, r.rows[0]!.pk);
    return p;
  }

  async firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    checkProjectName(name);
    const result = await this.inTransaction(async (query) => {
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
    return (await this.query<ProjectRow>('SELECT * FROM projects ORDER BY pk')).rows.map(toProject);
  }

  async findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = (
      await this.query<ProjectRow>(
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
    this.assertOpen();
    const batch = prepareEvents(events, { maxPropertiesChars: this.maxPropertiesChars });
    const pk = await this.projectPk(projectId);
    if (this.suppressions.due(Date.now())) await this.refreshSuppressions();
    // Common case: no project has an erased person, and this is the only look.
    const erased = this.suppressions.size === 0 ? 0 : this.suppressions.dropSuppressed(projectId, batch);
    const prepared = batch.events;
    if (prepared.length === 0) return { accepted: 0, duplicates: 0, erased };
    // The entries this batch was checked against are those committed when the last read began.
    const viewAtMs = this.suppressionsReadAtMs;
    // No await between the check above and this: an erasure noted after it waits for the write.
    const write = this.writeEvents(pk, batch);
    this.writing.add(write);
    let accepted: number;
    try {
      accepted = await write;
    } finally {
      this.writing.delete(write);
    }
    // An erasure this batch's check missed committed after `viewAtMs`, and its second deletion
    // runs `erasureSweepMs` after that commit: it covers this write only if the write committed
    // within `erasureSweepMs` of `viewAtMs`. A slower one (a pool queue, a lock, a slow read)
    // looks again itself, after its commit: an erasure committed before this look is found; one
    // after it deletes these rows with its own DELETE.
    if (Date.now() - viewAtMs > this.erasureSweepMs - LATE_WRITE_MARGIN_MS) {
      const late = await this.dropLateErased(projectId, pk, batch);
      accepted = Math.max(0, accepted - late);
      return { accepted, duplicates: prepared.length - late - accepted, erased: erased + late };
    }
    return { accepted, duplicates: prepared.length - accepted, erased };
  }

  /**
   * Deletes the batch's events of persons erased at or after their timestamp, reading the
   * suppression entries of the batch's persons now (not the refreshed copy); answers how many.
   */
  private async dropLateErased(projectId: string, pk: string, batch: PreparedBatch): Promise<number> {
    const hashes = new Map<string, Buffer>();
    for (const e of batch.events) {
      if (!hashes.has(e.distinctId)) hashes.set(e.distinctId, suppressionHash(projectId, e.distinctId));
    }
    const found = await this.query<{ hash: Buffer; erased_at_ms: string }>(
      'SELECT hash, max(erased_at_ms) AS erased_at_ms FROM suppressions WHERE project_pk = $1 AND hash = ANY($2::bytea[]) GROUP BY hash',
      [pk, [...hashes.values()]],
    );
    if (found.rows.length === 0) return 0;
    const erasedAt = new Map(found.rows.map((r) => [r.hash.toString('latin1'), Number(r.erased_at_ms)]));
    for (const r of found.rows) this.suppressions.note(projectId, r.hash, Number(r.erased_at_ms));
    const keys: Buffer[] = [];
    batch.events.forEach((e, i) => {
      const at = erasedAt.get(hashes.get(e.distinctId)!.toString('latin1'));
      if (at !== undefined && e.tsMs <= at) keys.push(batch.keys.subarray(i * 16, i * 16 + 16));
    });
    if (keys.length === 0) return 0;
    const r = await this.query('DELETE FROM events WHERE project_pk = $1 AND key = ANY($2::bytea[])', [
      pk,
      keys,
    ]);
    return r.rowCount ?? 0;
  }

  /** One INSERT of the batch; resolves how many events were new. */
  private async writeEvents(pk: string, { events: prepared, keys }: PreparedBatch): Promise<number> {
    const keyOf = prepared.map((_, i) => keys.subarray(i * 16, i * 16 + 16));
    // Same lock order for every batch: overlapping concurrent batches cannot deadlock.
    const order = prepared.map((_, i) => i).sort((a, b) => Buffer.compare(keyOf[a]!, keyOf[b]!));
    const sorted = order.map((i) => prepared[i]!);
    const r = await this.retryingConflicts(INSERT_EVENTS, [
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
    return r.rowCount ?? 0;
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
    const r = await this.longQuery<EventRow>(
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
      const r = await this.longQuery<EventRow>(
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
    const pk = await this.projectPk(projectId);
    const hash = suppressionHash(projectId, String(distinctId));
    const erasedAt = new Date();
    // The suppression entry first, committed on its own: other processes pick it up at their
    // next refresh, this one at once. If the deletion below fails, the entry stays; the request
    // answers an error and a retry deletes the events.
    await this.query('INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES ($1, $2, $3)', [
      pk,
      hash,
      erasedAt.getTime(),
    ]);
    // The second deletion counts from here, when the entry is committed (its insert may have
    // waited): other processes can miss it until their first read after this moment.
    const enteredAtMs = Date.now();
    this.suppressions.note(projectId, hash, erasedAt.getTime());
    // Batches that passed their check before the note may still be writing: the deletion must
    // come after them, or their events would outlive it.
    await Promise.allSettled([...this.writing]);
    return this.inTransaction(async (query) => {
      const n = (
        await query('DELETE FROM events WHERE project_pk = $1 AND distinct_id = $2', [pk, distinctId])
      ).rowCount!;
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
    }, 'long');
  }

  async listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    const beforeSeq = checkErasureQuery(q);
    const pk = await this.projectPkOrNull(q.projectId);
    if (pk === null) return [];
    const r = await this.longQuery<{
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
    const cutoffMs = Date.parse(cutoff);
    if (!Number.isFinite(cutoffMs)) throw new StoreError('invalid-input', 'cutoff must be an ISO 8601 date');
    if (!Number.isInteger(limit) || limit < 1)
      throw new StoreError('invalid-input', 'limit must be a positive integer');
    const pks = (await this.query<{ pk: string }>('SELECT pk FROM projects ORDER BY pk')).rows.map(
      (r) => r.pk,
    );
    let deleted = 0;
    for (const pk of pks) {
      if (deleted >= limit) break;
      const r = await this.longQuery(
        `DELETE FROM events WHERE ctid IN
           (SELECT ctid FROM events WHERE project_pk = $1 AND ts < $2 ORDER BY ts LIMIT $3)`,
        [pk, cutoffMs, limit - deleted],
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
            await this.longQuery<{ b: string; event: string; n: string }>(
              `SELECT (ts - $1) / $2 AS b, event, count(*) AS n FROM events
               WHERE project_pk = $3 AND ts >= $1 AND ts < $4 GROUP BY b, event`,
              [fromMs, intervalMs, pk, toMs],
            )
          ).rows.map((r) => ({ b: Number(r.b), event: r.event, n: Number(r.n) }));
    return buildBuckets(fromMs, toMs, intervalMs, rows);
  }

  /**
   * Refuses new calls, gives calls in flight `closeTimeoutMs` to finish, then cancels the
   * statements still running (their transactions roll back; the calls fail) and, when the
   * server does not answer that either, closes their connections; then ends the pool.
   * Idempotent: every call answers the same promise.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      // Sweeps not yet due stay marked in the table: the other processes, or the next start, run
      // them when they are due (run now, they would miss what others store until then).
      const sweepsStopped = this.sweeps.stop();
      if (!(await this.idleWithin(this.closeTimeoutMs))) {
        await this.cancelBusy();
        if (!(await this.idleWithin(CANCEL_WAIT_MS))) {
          // The server answers neither the statements nor their cancellation: close the
          // connections (the statements fail at once), or ending the pool would wait for them.
          for (const client of this.busy) destroyConnection(client);
        }
      }
      await sweepsStopped;
      await this.pool.end();
    })();
    return this.closing;
  }

  /** Resolves true once no call holds a connection, or false after `ms`. */
  private idleWithin(ms: number): Promise<boolean> {
    if (this.busy.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      this.idleWaiters.push(done);
    });
  }

  /**
   * Cancels the statement each busy connection runs with PostgreSQL's cancel request (the
   * backend's process id and secret key, on a socket of its own): it needs no login, so no free
   * connection slot (with the role's or the server's connection limit reached, a
   * `pg_cancel_backend` from a new session was refused and the statements ran on and committed
   * after close), names exactly one backend, and passes through PgBouncer, whose process ids
   * are not the server's.
   */
  private async cancelBusy(): Promise<void> {
    await Promise.all([...this.busy].map((client) => sendCancelRequest(client)));
  }

  /**
   * Sorted keys keep batches from deadlocking each other, but a batch can still meet an erasure
   * or retention delete; PostgreSQL then aborts one side, which did nothing, so it is run again.
   */
  private async retryingConflicts(sql: string, params: unknown[]): Promise<pg.QueryResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.query(sql, params);
      } catch (err) {
        const code = ((err as StoreError).cause as { code?: string } | undefined)?.code;
        if (attempt >= 3 || code === undefined || !RETRYABLE.has(code)) throw err;
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
        const r = await this.query<{ id: string; project_id: string; hash: Buffer; erased_at_ms: string }>(
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
    const r = await this.query<{ pk: string }>('SELECT pk FROM projects WHERE id = $1', [projectId]);
    const pk = r.rows[0]?.pk ?? null;
    if (pk !== null) this.projectPks.set(projectId, pk);
    return pk;
  }

  /**
   * Runs `fn` on a client of its own. The pool stops listening for a client's errors while it is
   * checked out, and a connection lost then (a restart, a terminated backend) is emitted as
   * 'error': with no listener that is an uncaught exception, the whole server gone. The query in
   * flight rejects anyway; the broken client is given back to be discarded, as is one whose
   * statement the driver gave up waiting for (it may still be running on it).
   */
  private async withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    this.assertOpen();
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw storageError(err, this.where);
    }
    let lost: Error | undefined;
    const onError = (err: Error): void => {
      lost = err;
    };
    client.on('error', onError);
    this.busy.add(client);
    try {
      // close() began while this call waited for a connection.
      this.assertOpen();
      return await fn(client);
    } catch (err) {
      if (isClientTimeout(err)) lost ??= err as Error;
      throw err;
    } finally {
      client.off('error', onError);
      this.busy.delete(client);
      client.release(lost);
      this.notifyIfIdle();
    }
  }

  /**
   * Runs `fn` in one transaction, its statements bounded by `statementTimeoutMs` or, for
   * `'long'`, by `longStatementTimeoutMs` (`SET LOCAL`: only this transaction). Commits what `fn`
   * resolves; rolls back and throws a StoreError when anything fails, a timeout included.
   */
  private inTransaction<T>(
    fn: (query: TxQuery) => Promise<T>,
    bound: 'short' | 'long' = 'short',
  ): Promise<T> {
    return this.withClient(async (client) => {
      const query: TxQuery = (sql, params) =>
        bound === 'long'
          ? client.query(longStatement(sql, params, this.longClientTimeoutMs))
          : client.query(sql, params);
      try {
        await client.query('BEGIN');
        if (bound === 'long')
          await client.query(`SET LOCAL statement_timeout = ${this.longStatementTimeoutMs}`);
        const result = await fn(query);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // After a driver timeout the statement may still be running on this connection, which
        // is discarded instead (its transaction rolls back when the server sees it closed).
        if (!isClientTimeout(err)) await client.query('ROLLBACK').catch(() => {});
        throw storageError(err, this.where);
      }
    });
  }

  /** One statement bounded by `longStatementTimeoutMs` (a transaction of its own). */
  private longQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.inTransaction((query) => query<R>(sql, params), 'long');
  }

  /** One statement bounded by `statementTimeoutMs`, on its own (autocommit). */
  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    try {
      return await this.withClient((client) => client.query<R>(sql, params));
    } catch (err) {
      throw storageError(err, this.where);
    }
  }

  /** Runs `fn` on a connection of its own, outside the pool and without statement bounds. */
  private async withMigrationClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    this.assertOpen();
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.connectTimeoutMs,
    });
    // A connection lost mid-migration fails the query in flight; without a listener it would
    // also be an uncaught exception.
    client.on('error', () => {});
    this.busy.add(client);
    try {
      await client.connect();
      return await fn(client);
    } catch (err) {
      throw storageError(err, this.where);
    } finally {
      this.busy.delete(client);
      await client.end().catch(() => {});
      this.notifyIfIdle();
    }
  }

  private notifyIfIdle(): void {
    if (this.busy.size > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
  }
}

/** A statement of a transaction, in `inTransaction`. */
export type TxQuery = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params?: unknown[],
) => Promise<pg.QueryResult<R>>;

/** A statement the driver waits for up to `clientTimeoutMs` (pg's per-query `query_timeout`). */
function longStatement(sql: string, params: unknown[] | undefined, clientTimeoutMs: number): pg.QueryConfig {
  const config: pg.QueryConfig & { query_timeout: number } = {
    text: sql,
    query_timeout: clientTimeoutMs,
    ...(params === undefined ? {} : { values: params }),
  };
  return config;
}

/** pg gave up waiting for a statement's answer (`query_timeout`); it may still be running. */
function isClientTimeout(err: unknown): boolean {
  const e = err instanceof StoreError ? err.cause : err;
  return e instanceof Error && e.message === 'Query read timeout';
}

/**
 * Sends the cancel request for the statement `client` runs (what pg's own `Client#cancel` does),
 * and resolves once the server closed that socket, or after `CANCEL_WAIT_MS`. Never throws.
 */
function sendCancelRequest(client: pg.ClientBase): Promise<void> {
  const c = client as unknown as { processID?: unknown; secretKey?: unknown; host?: unknown; port?: unknown };
  const { processID, secretKey, host, port } = c;
  if (typeof processID !== 'number' || typeof secretKey !== 'number' || typeof host !== 'string') {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const con = new pg.Connection();
    const done = (): void => {
      clearTimeout(timer);
      con.stream.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_WAIT_MS);
    con.on('error', done);
    con.on('end', done);
    con.on('connect', () =>
      (con as unknown as { cancel(pid: number, key: number): void }).cancel(processID, secretKey),
    );
    const connect = (con as unknown as { connect(portOrPath: unknown, host?: string): void }).connect.bind(
      con,
    );
    // A Unix socket directory as host, as libpq and pg take it.
    if (host.startsWith('/')) connect(`${host}/.s.PGSQL.${String(port)}`);
    else connect(port, host);
  });
}

/** Closes a client's socket at once (pg-pool does the same to a client that connects too slowly). */
function destroyConnection(client: pg.ClientBase): void {
  (client as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream?.destroy?.();
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  '3D000',
  '28P01',
  '28000',
]);

function storageError(err: unknown, where: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = (err as { code?: string }).code;
  const msg = (err as Error).message ?? String(err);
  // query_canceled (statement_timeout, or close() cancelling) and lock_not_available (a
  // lock_timeout of the server's or the URL's): the statement did nothing.
  if (code === '57014' || code === '55P03') {
    return new StoreError(
      'timeout',
      `PostgreSQL cancelled a statement (${msg}): it ran past its bound (statementTimeoutMs / ` +
        'longStatementTimeoutMs), waiting for a lock held elsewhere or on an overloaded server, ' +
        'or the store was closing; nothing of it was committed',
      { cause: err },
    );
  }
  // disk_full: the database server's disk; the transaction was rolled back.
  if (code === '53100') {
    return new StoreError(
      'disk-full',
      `PostgreSQL at ${where}: the disk is full (${msg}); nothing was committed`,
      {
        cause: err,
      },
    );
  }
  if (msg === 'timeout exceeded when trying to connect') {
    // pg-pool's answer when every connection stayed busy for connectTimeoutMs.
    return new StoreError(
      'timeout',
      'every connection to PostgreSQL stayed busy for connectTimeoutMs (statements stuck behind ' +
        'locks, or slow); nothing was sent',
      { cause: err },
    );
  }
  if (isClientTimeout(err)) {
    return new StoreError(
      'timeout',
      `PostgreSQL at ${where} did not answer a statement within its bound and two seconds more; ` +
        'the connection was dropped',
      { cause: err },
    );
  }
  if ((code !== undefined && CONNECTION_CODES.has(code)) || /timeout|terminated|Connection/i.test(msg)) {
    return new StoreError(
      'unreachable',
      `cannot reach PostgreSQL at ${where} (${code ?? msg}); check --database / HOMING_DATABASE_URL, ` +
        'that the server is running and accepts this user, and that the database exists',
      { cause: err },
    );
  }
  return new StoreError('storage', `PostgreSQL failed: ${msg}`, { cause: err });
}

function projectParams(p: Project): unknown[] {
  return [p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt];
}

function toProject(r: ProjectRow): Project {
  return { id: r.id, name: r.name, writeKey: r.write_key, adminKey: r.admin_key, createdAt: r.created_at };
}

function toEvent(projectId: string, r: EventRow): StoredEvent {
  return {
    projectId,
    seq: Number(r.seq),
    uuid: r.uuid_text ?? formatUuid(r.key),
    event: r.event,
    distinctId: r.distinct_id,
    timestamp: new Date(Number(r.ts)).toISOString(),
    originalTimestamp: r.original_ts,
    receivedAt: r.received_at,
    properties: JSON.parse(r.properties) as Record<string, unknown>,
  };
}
