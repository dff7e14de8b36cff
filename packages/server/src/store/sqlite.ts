import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { nextBatchSize } from './batchSizer.js';
import { StoreError } from './errors.js';
import { parseIsoMs } from './parse-iso.js';
import {
  NO_POSITION,
  needsWindows,
  pageSql,
  windowSql,
  type EventFilter,
  type RowPosition,
} from './sqlite-event-query.js';
import { Expander } from './sqlite-expander.js';
import { encodeCall, IngestLog, type LogAppend } from './sqlite-ingest-log.js';
import { FILTER_READY } from './sqlite-key-filter.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { OpenFiles } from './sqlite-open-files.js';
import { WriteTurn } from './sqlite-write-turn.js';
import {
  resolveSqliteOptions,
  type ResolvedSqliteOptions,
  type SqliteStoreOptions,
} from './sqlite-options.js';
import {
  buildBuckets,
  checkErasure,
  checkErasureQuery,
  checkProjectName,
  checkQuery,
  checkStats,
  prepareEvents,
} from './prepare-events.js';
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
import { READY_MIN_FREE_BYTES, isDiskFull, storageError } from './sqlite-errors.js';
import { applyMigrations, makeStoreDataDir, openIngestLog, openMainDatabase } from './sqlite-open.js';
import {
  EVENT_COLUMNS,
  type EventRow,
  type ProjectRow,
  toEvent,
  toProject,
  toSuppression,
} from './sqlite-rows.js';

export type { SqliteStoreOptions } from './sqlite-options.js';
export { READY_MIN_FREE_BYTES, isDiskFull } from './sqlite-errors.js';

interface Waiting extends LogAppend {
  resolve: (r: InsertResult) => void;
  reject: (e: unknown) => void;
}

const EXPORT_PAGE = 500;
/** A turn of the event loop for everything else (awaiting a free write turn alone only yields to microtasks). */
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/**
 * An erasure's transactions: about 30 ms of the event loop each, whatever the table's size (a
 * fixed 5 000 events took 0.25-2.4 s each on a database of 2 million events).
 */
const ERASE_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;
/** Events a stats query counts per turn of the event loop: about 50 ms each. */
const STATS_PIECE_EVENTS = 20_000;
/** Retention's transactions: about 30 ms of the event loop each, whatever the table's size. */
const RETENTION_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;
/** Rows of a person's index a filtered page reads per turn (queryInWindows): about 30 ms each. */
const QUERY_WINDOW = { start: 1000, targetMs: 30, min: 200, max: 50_000 } as const;

/**
 * The embedded store: SQLite in WAL mode, `<dataDir>/homing.db` and the ingest log in front of
 * it, `<dataDir>/ingest-log.db`.
 *
 * insertEvents resolves once its batch is committed to the ingest log (see IngestLog); calls
 * that arrive while a commit is pending share one transaction (group commit). The log has its
 * own file, so acknowledging never waits for homing.db's write lock. An expander worker thread,
 * with its own connections, moves the log into `events` in chunks (see Expander); every read
 * first waits until what was committed before it began is expanded, so reads see every
 * resolved insert. This thread's own writes to homing.db (projects, erasure, retention) take
 * turns with the worker's chunks (WriteTurn), waiting without blocking the event loop.
 */
export class SqliteStore implements Store {
  readonly path: string;
  /** The ingest log's file. */
  readonly logPath: string;
  private readonly db: Database.Database;
  private logDb!: Database.Database;
  private log!: IngestLog;
  private expander!: Expander;
  private readonly turn = new WriteTurn();
  private readonly opts: ResolvedSqliteOptions;
  private readonly projectPks = new Map<string, number>();
  private readonly suppressions: Suppressions;
  private queue: Waiting[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private migrated = false;
  /** The last write to the ingest log found the disk full (see `ping`). */
  private diskFull = false;
  /** Whether homing.db and the log file are still the files at their paths. */
  private readonly openFiles: OpenFiles;
  /** The cutoff `deleteEventsBefore` last waited for the expander with. */
  private retentionCaughtUpFor: string | null = null;
  /** Events retention deletes in its next transaction: sized by time (see deleteOldEvents). */
  private retentionBatch: number = RETENTION_BATCH.min;
  /** Events an erasure deletes in its next transaction: sized by time (see erasePerson). */
  private eraseBatch: number = ERASE_BATCH.min;

  constructor(options: SqliteStoreOptions) {
    this.opts = resolveSqliteOptions(options);
    this.path = join(this.opts.dataDir, 'homing.db');
    this.logPath = join(this.opts.dataDir, LOG_FILE);
    this.suppressions = new Suppressions(this.opts.suppressionRefreshMs);
    this.openFiles = new OpenFiles(this.opts.dataDir);
    makeStoreDataDir(this.opts.dataDir);
    this.db = openMainDatabase(this.path, this.opts, options.openDatabase);
    this.openFiles.add(this.path);
  }

  async migrate(): Promise<void> {
    this.assertOpen();
    await applyMigrations(this.db, this.turn, this.path);
    if (this.opts.projectsOnly) {
      this.migrated = true;
      return;
    }
    if (!this.migrated) {
      this.logDb = openIngestLog(this.db, this.logPath, this.opts);
      this.openFiles.add(this.logPath);
      this.expander = new Expander(this.path, this.logPath, this.opts, this.turn, (lastId) =>
        this.onExpanded(lastId),
      );
      this.log = new IngestLog(this.logDb, this.db, this.expander);
      this.migrated = true;
    }
    this.refreshSuppressions();
    // A previous run may have left log rows (crash, or close() out of budget): the worker
    // expands them as soon as it runs.
    this.expander.start();
    this.expander.wake();
  }

  /**
   * The database answers, and, once a write failed because the disk is full, the disk has room
   * again (READY_MIN_FREE_BYTES): a server that can only answer 503 is not ready, so a balancer
   * sends its traffic elsewhere. (A one-page write is no test: SQLite reuses its WAL file's own
   * room, so it can pass while every batch fails.)
   */
  async ping(): Promise<void> {
    this.assertOpen();
    const gone = this.openFiles.check(true);
    if (gone !== null) throw gone;
    this.db.prepare('SELECT 1').get();
    if (!this.diskFull) return;
    let free: number;
    try {
      const st = statfsSync(this.opts.dataDir);
      free = st.bavail * st.bsize;
    } catch {
      return;
    }
    if (free < READY_MIN_FREE_BYTES)
      throw new StoreError('disk-full', `the disk under ${this.opts.dataDir} is full (${free} bytes free)`);
    this.diskFull = false;
  }

  async createProject(name: string): Promise<Project> {
    this.assertReady();
    checkProjectName(name);
    const p = newProject(name);
    const pk = await this.turn.runAsync(() => this.insertProject(p));
    this.projectPks.set(p.id, pk);
    return p;
  }

  async firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    this.assertReady();
    checkProjectName(name);
    // IMMEDIATE takes the database's write lock before the look, so another connection or
    // process doing the same waits and then finds this one's project.
    const found = await this.turn.runAsync(() =>
      this.db
        .transaction((): { project: Project; created: boolean; pk: number } => {
          const first = this.db.prepare('SELECT * FROM projects ORDER BY pk LIMIT 1').get() as
            ProjectRow | undefined;
          if (first !== undefined) return { project: toProject(first), created: false, pk: first.pk };
          const p = newProject(name);
          return { project: p, created: true, pk: this.insertProject(p) };
        })
        .immediate(),
    );
    this.projectPks.set(found.project.id, found.pk);
    return { project: found.project, created: found.created };
  }

  async listProjects(): Promise<Project[]> {
    this.assertReady();
    const rows = this.db.prepare('SELECT * FROM projects ORDER BY pk').all() as ProjectRow[];
    return rows.map(toProject);
  }

  async findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    this.assertReady();
    if (typeof key !== 'string' || key.length === 0 || key.length > 1000) return null;
    const h = keyHash(key);
    const row = this.db
      .prepare('SELECT * FROM projects WHERE write_key_hash = ? OR admin_key_hash = ?')
      .get(h, h) as ProjectRow | undefined;
    if (!row) return null;
    if (sameKey(row.write_key, key)) return { project: toProject(row), role: 'write' };
    if (sameKey(row.admin_key, key)) return { project: toProject(row), role: 'admin' };
    return null;
  }

  insertEvents(projectId: string, events: readonly IngestEvent[]): Promise<InsertResult> {
    try {
      this.assertEvents();
      const prepared = prepareEvents(events, { maxPropertiesChars: this.opts.maxPropertiesChars });
      const projectPk = this.projectPk(projectId);
      if (this.suppressions.due(Date.now())) this.refreshSuppressions();
      // Common case: no project has an erased person, and this is the only look.
      const erased = this.suppressions.size === 0 ? 0 : this.suppressions.dropSuppressed(projectId, prepared);
      if (prepared.events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0, erased });
      return new Promise((resolve, reject) => {
        this.queue.push({
          projectPk,
          keys: prepared.keys,
          call: encodeCall(prepared.events),
          erased,
          checkErased: this.suppressions.has(projectId),
          resolve,
          reject,
        });
        this.scheduleFlush();
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Expands the whole ingest log now (benchmarks and tools; reads do this by themselves). */
  async drain(): Promise<void> {
    this.assertReady();
    await this.catchUp();
  }

  /** Events committed to the ingest log and not yet expanded, as far as this connection knows. */
  get pendingEvents(): number {
    return this.migrated && !this.opts.projectsOnly ? this.log.pendingEvents : 0;
  }

  /** Whether acknowledging checks new keys against the in-memory filter (complete and trusted). */
  get keyFilterReady(): boolean {
    const f = this.migrated && !this.opts.projectsOnly ? this.expander.filter : null;
    return f !== null && Atomics.load(f, 0) === FILTER_READY;
  }

  async queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    this.assertReady();
    const { sinceMs, untilMs, before } = checkQuery(q);
    const pk = this.projectPkOrNull(q.projectId);
    if (pk === null) return [];
    await this.catchUp();
    const f: EventFilter = { projectPk: pk, event: q.event, distinctId: q.distinctId, sinceMs, untilMs };
    const below: RowPosition = before === null ? NO_POSITION : { ts: before.tsMs, rowid: before.seq };
    let rows: EventRow[];
    if (needsWindows(f)) {
      rows = await this.queryInWindows(f, below, q.limit);
    } else {
      const { sql, params } = pageSql(f);
      rows = this.db.prepare(sql).all(...params, below.ts, below.rowid, q.limit) as EventRow[];
    }
    return rows.map((r) => toEvent(q.projectId, r));
  }

  /**
   * A page filtered by both event name and person, read in windows of the person's index
   * (windowSql) sized by time, with a turn of the event loop between them: the rows a page
   * has to look at are not bounded by its limit (a person with 200 000 events, none of them
   * of the name asked for).
   */
  private async queryInWindows(f: EventFilter, below: RowPosition, limit: number): Promise<EventRow[]> {
    const sql = windowSql(f);
    const cut = this.db.prepare(sql.cut);
    const inWindow = this.db.prepare(sql.window);
    const rest = this.db.prepare(sql.last);
    const rows: EventRow[] = [];
    let size: number = QUERY_WINDOW.start;
    for (let at = below, first = true; ; first = false) {
      if (!first) await nextTurn();
      this.assertOpen();
      const t0 = performance.now();
      const end = cut.get(...sql.cutParams, at.ts, at.rowid, size) as RowPosition | undefined;
      const found = (
        end === undefined
          ? rest.all(...sql.params, at.ts, at.rowid, limit - rows.length)
          : inWindow.all(...sql.params, at.ts, at.rowid, end.ts, end.rowid, limit - rows.length)
      ) as EventRow[];
      for (const r of found) rows.push(r);
      if (end === undefined || rows.length >= limit) return rows;
      at = end;
      size = nextBatchSize(size, performance.now() - t0, QUERY_WINDOW);
    }
  }

  async *personEvents(projectId: string, distinctId: string): AsyncIterable<StoredEvent> {
    this.assertReady();
    const pk = this.projectPkOrNull(projectId);
    if (pk === null) return;
    await this.catchUp();
    // Pages by (ts, rowid) instead of one open cursor: an open better-sqlite3 iterator would
    // block every other statement on this connection for as long as the consumer reads.
    const page = this.db.prepare(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE project_pk = ? AND distinct_id = ? AND (ts, rowid) > (?, ?)
       ORDER BY ts, rowid LIMIT ${EXPORT_PAGE}`,
    );
    let after: [number, number] = [-Number.MAX_SAFE_INTEGER, -1];
    for (let first = true; ; first = false) {
      // A turn of the event loop between pages: a consumer that keeps up (a download over
      // loopback) pulls the next page in microtasks, so 200 000 events held the loop 10 s.
      if (!first) await nextTurn();
      this.assertOpen();
      const rows = page.all(pk, distinctId, after[0], after[1]) as EventRow[];
      for (const r of rows) yield toEvent(projectId, r);
      if (rows.length < EXPORT_PAGE) return;
      const last = rows[rows.length - 1]!;
      after = [last.ts, last.rowid];
    }
  }

  async erasePerson(projectId: string, distinctId: string, requestedBy: string): Promise<number> {
    this.assertEvents();
    checkErasure(distinctId, requestedBy);
    const pk = this.projectPkOrNull(projectId);
    if (pk === null) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    const hash = suppressionHash(projectId, String(distinctId));
    const erasedAt = new Date();
    // The suppression entry first, committed on its own and applied to this store's ingest in
    // the same step: from here on, the person's events up to erasedAt are not acknowledged as
    // stored. If the deletion below fails, the entry stays; the request answers an error and a
    // retry deletes the events (the entry was what the request asked for in any case).
    await this.turn.runAsync(() => {
      this.db
        .prepare('INSERT INTO suppressions (project_pk, hash, erased_at_ms) VALUES (?, ?, ?)')
        .run(pk, hash, erasedAt.getTime());
      this.suppressions.note(projectId, hash, erasedAt.getTime());
    });
    // Calls queued before the entry was noted were not checked against it: commit them to the
    // log, so that catchUp expands them and the deletion sees them.
    while (this.flushing || this.queue.length > 0) await (this.flushing ?? this.flush());
    await this.catchUp();
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

  async listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    this.assertReady();
    const beforeSeq = checkErasureQuery(q);
    const pk = this.projectPkOrNull(q.projectId);
    if (pk === null) return [];
    const rows = this.db
      .prepare(
        `SELECT id, distinct_id, requested_by, deleted_count, erased_at FROM erasures
         WHERE project_pk = ? AND id < ? ORDER BY id DESC LIMIT ?`,
      )
      .all(pk, beforeSeq, q.limit) as {
      id: number;
      distinct_id: string;
      requested_by: string;
      deleted_count: number;
      erased_at: string;
    }[];
    return rows.map((r) => ({
      seq: r.id,
      projectId: q.projectId,
      distinctId: r.distinct_id,
      requestedBy: r.requested_by,
      deletedCount: r.deleted_count,
      erasedAt: r.erased_at,
    }));
  }

  async deleteEventsBefore(cutoff: string, limit: number): Promise<number> {
    this.assertReady();
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

  async stats(q: StatsQuery): Promise<StatsBucket[]> {
    this.assertReady();
    const { fromMs, toMs, intervalMs } = checkStats(q);
    const pk = this.projectPkOrNull(q.projectId);
    await this.catchUp();
    if (pk === null) return buildBuckets(fromMs, toMs, intervalMs, []);
    // The range in pieces of about STATS_PIECE_EVENTS events, each counted on a turn of its own:
    // counted in one statement, a year of events held the event loop for a second or more.
    // Each piece's cut is found on the (project, ts) index alone; rows sharing one timestamp
    // stay in one piece, however many there are.
    const cut = this.db
      .prepare(
        'SELECT ts FROM events WHERE project_pk = ? AND ts >= ? AND ts < ? ORDER BY ts LIMIT 1 OFFSET ?',
      )
      .pluck();
    const count = this.db.prepare(
      `SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, event, count(*) AS n FROM events
       WHERE project_pk = ? AND ts >= ? AND ts < ? GROUP BY b, event`,
    );
    const rows: { b: number; event: string; n: number }[] = [];
    for (let start = fromMs; start < toMs;) {
      this.assertOpen();
      const next = cut.get(pk, start, toMs, STATS_PIECE_EVENTS) as number | undefined;
      const end = next === undefined ? toMs : next > start ? next : next + 1;
      for (const r of count.iterate(fromMs, intervalMs, pk, start, end))
        rows.push(r as (typeof rows)[number]);
      start = end;
      if (start < toMs) await nextTurn();
    }
    return buildBuckets(fromMs, toMs, intervalMs, rows);
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    this.closing = (async () => {
      // Calls already queued are committed (they were accepted before close began).
      while (this.flushing || this.queue.length > 0) await (this.flushing ?? this.flush());
      // What is left past the budget stays in the log; the next start expands it.
      if (this.migrated && !this.opts.projectsOnly) {
        const left = await this.expander.stop(this.opts.closeExpandBudgetMs);
        if (left !== 0) this.opts.onClosedWithBacklog?.(left);
        this.trimLog();
        this.logDb.close();
      }
      this.db.close();
    })();
    return this.closing;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  /**
   * Commits the queued insertEvents calls, one transaction per group (group commit): calls
   * that arrive while it waits for the write turn or for backpressure join the next group.
   */
  private flush(): Promise<void> {
    this.flushScheduled = false;
    if (!this.flushing) {
      const run: Promise<void> = this.commitQueued().finally(() => {
        if (this.flushing === run) this.flushing = null;
        // Calls that arrived after the loop's last look.
        if (this.queue.length > 0) this.scheduleFlush();
      });
      this.flushing = run;
    }
    return this.flushing;
  }

  private async commitQueued(): Promise<void> {
    while (this.queue.length > 0) {
      // Backpressure: the in-memory index of unexpanded keys stays under its bound.
      while (this.log.pendingEvents >= this.opts.maxPendingEvents) await this.expander.nextProgress();
      const calls = this.queue;
      this.queue = [];
      await this.turn.logWrite(() => this.commit(calls));
      this.expander.wake();
    }
  }

  private commit(calls: Waiting[]): void {
    const gone = this.openFiles.check();
    if (gone !== null) {
      for (const c of calls) c.reject(gone);
      return;
    }
    try {
      const results = this.log.append(calls);
      this.diskFull = false;
      calls.forEach((c, i) => c.resolve(results[i]!));
    } catch (err) {
      if (isDiskFull(err)) this.diskFull = true;
      // A constraint or trigger failure belongs to one call's data: retry each call alone so
      // its neighbours are kept. Anything else (busy, disk full, I/O) would fail them all
      // again, and retrying would hold the event loop once more per call.
      const perCall =
        calls.length > 1 && String((err as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT');
      if (perCall) for (const c of calls) this.appendAlone(c);
      else for (const c of calls) c.reject(storageError(err));
    }
  }

  private appendAlone(c: Waiting): void {
    try {
      c.resolve(this.log.append([c])[0]!);
    } catch (err) {
      c.reject(storageError(err));
    }
  }

  /** The worker expanded every log row with id ≤ lastId: forget their keys, delete the rows. */
  private onExpanded(lastId: number): void {
    this.log.forgetExpanded(lastId);
    if (!this.closed) void this.turn.logWrite(() => (this.closed ? undefined : this.trimLog()));
  }

  /**
   * Deletes expanded rows from the log file. A failure only leaves them there a little longer:
   * they are below the expanded id, never expanded again, and the next trim deletes them.
   */
  private trimLog(): void {
    try {
      this.log.trim();
    } catch (err) {
      this.opts.onBackgroundError?.(err);
    }
  }

  /** Expands every log row committed before this call (reads see every resolved insert). */
  private async catchUp(): Promise<void> {
    this.assertEvents();
    try {
      await this.expander.catchUp(this.log.maxLogId());
    } catch (err) {
      throw storageError(err);
    }
    this.assertOpen();
  }

  /**
   * Reads suppression entries committed since the last read (other connections' erasures; this
   * store's own are noted when made). Synchronous: one indexed range read of an append-only
   * table, at most once per `suppressionRefreshMs`.
   */
  private refreshSuppressions(): void {
    const now = Date.now();
    let rows: { id: number; project_id: string; hash: Buffer; erased_at_ms: number }[];
    try {
      rows = this.db
        .prepare(
          `SELECT s.id, p.id AS project_id, s.hash, s.erased_at_ms FROM suppressions s
           JOIN projects p ON p.pk = s.project_pk WHERE s.id > ?`,
        )
        .all(this.suppressions.lastId) as typeof rows;
    } catch (err) {
      // Typed, so a busy or broken file answers 503 like any failed write.
      throw storageError(err);
    }
    this.suppressions.load(rows.map(toSuppression), now);
  }

  private insertProject(p: Project): number {
    const r = this.db
      .prepare(
        `INSERT INTO projects (id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.id, p.name, p.writeKey, p.adminKey, keyHash(p.writeKey), keyHash(p.adminKey), p.createdAt);
    return Number(r.lastInsertRowid);
  }

  private projectPk(projectId: string): number {
    const pk = this.projectPkOrNull(projectId);
    if (pk === null) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    return pk;
  }

  private projectPkOrNull(projectId: string): number | null {
    const cached = this.projectPks.get(projectId);
    if (cached !== undefined) return cached;
    if (typeof projectId !== 'string') return null;
    const pk = this.db.prepare('SELECT pk FROM projects WHERE id = ?').pluck().get(projectId) as
      number | undefined;
    if (pk === undefined) return null;
    this.projectPks.set(projectId, pk);
    return pk;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError('closed', 'the store is closed');
  }

  private assertReady(): void {
    this.assertOpen();
    if (!this.migrated) throw new StoreError('migration', 'call migrate() before using the store');
    const gone = this.openFiles.failed;
    if (gone !== null) throw gone;
  }

  private assertEvents(): void {
    this.assertReady();
    if (this.opts.projectsOnly)
      throw new StoreError(
        'invalid-input',
        'this store was opened for projects only (projectsOnly): no events',
      );
  }
}
