import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { StoreError } from './errors.js';
import { NO_POSITION, type EventFilter, type RowPosition } from './sqlite-event-query.js';
import { Expander } from './sqlite-expander.js';
import { encodeCall, IngestLog } from './sqlite-ingest-log.js';
import { SqliteErasure } from './sqlite-erasure.js';
import type { BacklogNotice } from './sqlite-backlog-notice.js';
import { GroupCommit } from './sqlite-group-commit.js';
import type { PidClaim } from './sqlite-server-pid.js';
import { startNotices } from './sqlite-start-notices.js';
import { FILTER_READY } from './sqlite-key-filter.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { OpenFiles } from './sqlite-open-files.js';
import { SCRUBBED_MESSAGE, scrubAtClose } from './sqlite-close-scrub.js';
import { checkpointRemovedWal } from './sqlite-wal-rescue.js';
import { SqliteProjects } from './sqlite-projects.js';
import { logFileOfItsOwn, SqliteProjectRemoval } from './sqlite-project-removal.js';
import { SqliteReads } from './sqlite-reads.js';
import { SqliteRetention } from './sqlite-retention.js';
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
  checkQuery,
  checkStats,
  prepareEvents,
} from './prepare-events.js';
import { checkKeysToRotate } from './project-keys.js';
import { suppressionHash, Suppressions } from './suppressions.js';
import type {
  ErasureQuery,
  ErasureRecord,
  EventQuery,
  IngestEvent,
  InsertOptions,
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
import {
  diskFullAdvice,
  ExpansionStalledError,
  isBusy,
  isDiskFull,
  isSqliteFailure,
  READY_LOCK_WAIT_MS,
  READY_MIN_FREE_BYTES,
  roomToRecover,
  storageError,
} from './sqlite-errors.js';
import {
  applyMigrations,
  makeStoreDataDir,
  openIngestLog,
  openMainDatabase,
  refuseOrphanedLog,
} from './sqlite-open.js';
import { toEvent, toSuppression } from './sqlite-rows.js';

export type { SqliteStoreOptions } from './sqlite-options.js';
export type { StoreNotice } from './sqlite-backlog-notice.js';
export { READY_MIN_FREE_BYTES, isDiskFull } from './sqlite-errors.js';

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
  /** insertEvents' calls on their way into the log; set with the log (see migrate). */
  private commits: GroupCommit | null = null;
  private readonly turn = new WriteTurn();
  private readonly opts: ResolvedSqliteOptions;
  private readonly projects: SqliteProjects;
  private readonly removal: SqliteProjectRemoval;
  private readonly reads: SqliteReads;
  private readonly erasure: SqliteErasure;
  private readonly retention: SqliteRetention;
  private readonly suppressions: Suppressions;
  private closed = false;
  private closing: Promise<void> | null = null;
  private migrated = false;
  /** The last write to the ingest log found the disk full (see `ping`). */
  private diskFull = false;
  /**
   * The expander found the disk full: apart from `diskFull`, which every successful ingest append
   * clears (appends can go on in the log's own room while expansion cannot). Cleared by the
   * expander's next progress, or once checkReady finds room.
   */
  private expanderDiskFull = false;
  /** Whether homing.db, the log file and their WALs are still the files at their paths. */
  private readonly openFiles: OpenFiles;
  /** A backlog an earlier run left in the log, told to `onNotice` while it drains. */
  private backlog: BacklogNotice | null = null;
  /** This process's mark on the data directory (`homing.pid`), removed at close. */
  private pidClaim: PidClaim | null = null;

  constructor(options: SqliteStoreOptions) {
    this.opts = resolveSqliteOptions(options);
    this.path = join(this.opts.dataDir, 'homing.db');
    this.logPath = join(this.opts.dataDir, LOG_FILE);
    this.suppressions = new Suppressions(this.opts.suppressionRefreshMs);
    this.openFiles = new OpenFiles(this.opts.dataDir, undefined, undefined, (failure, walsLostBy) =>
      this.onFilesChanged(failure, walsLostBy),
    );
    makeStoreDataDir(this.opts.dataDir);
    this.db = openMainDatabase(this.path, this.opts, options.openDatabase);
    this.openFiles.add(this.path);
    const assertOpen = (): void => this.assertOpen();
    this.projects = new SqliteProjects(this.db, this.turn);
    this.reads = new SqliteReads(this.db, assertOpen);
    this.erasure = new SqliteErasure(this.db, this.turn, assertOpen);
    this.retention = new SqliteRetention(this.db, this.turn, assertOpen, () => this.catchUp());
    this.removal = new SqliteProjectRemoval(
      this.db,
      this.turn,
      this.projects,
      this.suppressions,
      assertOpen,
      () =>
        this.opts.projectsOnly
          ? logFileOfItsOwn(this.logPath, this.opts.busyTimeoutMs)
          : { write: (fn) => this.turn.logWrite(() => fn(this.logDb)), close: () => {} },
      // Recorded in homing.db as well (done by a running server or after the next start).
      (through) => {
        if (!this.opts.projectsOnly && this.migrated) this.expander.scrub(through);
      },
    );
  }

  async migrate(): Promise<void> {
    this.assertOpen();
    refuseOrphanedLog(this.db, this.logPath, this.path);
    await applyMigrations(this.db, this.turn, this.path);
    if (this.opts.projectsOnly) {
      if (!this.migrated) this.openFiles.addWal(this.path);
      this.migrated = true;
      return;
    }
    if (!this.migrated) {
      this.logDb = openIngestLog(this.db, this.logPath, this.opts);
      this.openFiles.add(this.logPath);
      // After both main files, so a removed directory is told as that; both WALs exist by now
      // (homing.db's since its first statement, the log's since the reconcile's transaction).
      this.openFiles.addWal(this.path);
      this.openFiles.addWal(this.logPath);
      // A full disk found by the expander makes the store unready as one found by ingest does:
      // a restart on a full disk opened its files (no room needed) and answered ready.
      const expanderOpts = {
        ...this.opts,
        onBackgroundError: (err: unknown): void => {
          if (isDiskFull(err)) this.expanderDiskFull = true;
          this.opts.onBackgroundError?.(err);
        },
      };
      this.expander = new Expander(this.path, this.logPath, expanderOpts, this.turn, (lastId) =>
        this.onExpanded(lastId),
      );
      this.log = new IngestLog(this.logDb, this.db, this.expander);
      this.commits = new GroupCommit(
        this.log,
        this.expander,
        this.turn,
        this.openFiles,
        this.opts.maxPendingEvents,
        (full) => (this.diskFull = full),
        this.opts.busyTimeoutMs,
      );
      this.migrated = true;
      this.noticeAtStart();
    }
    this.refreshSuppressions();
    // A previous run may have left log rows (crash, or close() out of budget): the worker
    // expands them as soon as it runs.
    this.expander.start();
    this.expander.wake();
  }

  /** Once, at the first migrate: another live server on this directory, and a backlog from an earlier run. */
  private noticeAtStart(): void {
    const started = startNotices(this.db, this.logDb, this.opts.dataDir, this.opts.onNotice);
    this.pidClaim = started.pidClaim;
    this.backlog = started.backlog;
  }

  /**
   * The database answers, an ingest commit could take the log file's write lock (see
   * assertLogWritable), and, once a write failed because the disk is full, the disk has room
   * again (READY_MIN_FREE_BYTES): a server that can only answer 503 is not ready, so a balancer
   * sends its traffic elsewhere. (A one-page write is no test: SQLite reuses its WAL file's own
   * room, so it can pass while every batch fails.)
   */
  ping(): Promise<void> {
    return this.guarded(() => this.checkReady());
  }

  private async checkReady(): Promise<void> {
    this.assertOpen();
    const gone = this.openFiles.check(true);
    if (gone !== null) throw gone;
    this.db.prepare('SELECT 1').get();
    this.assertExpanding();
    await this.assertLogWritable();
    if (!this.diskFull && !this.expanderDiskFull) return;
    let free: number;
    try {
      const st = statfsSync(this.opts.dataDir);
      free = st.bavail * st.bsize;
    } catch {
      return;
    }
    // Room for acknowledging alone came back at 4 MiB, and the disk filled again at once while
    // the expander, which needs room for the backlog twice over, never got going.
    if (free < Math.max(READY_MIN_FREE_BYTES, roomToRecover(this.opts.dataDir, LOG_FILE)))
      throw new StoreError(
        'disk-full',
        `the disk under ${this.opts.dataDir} is full (${free} bytes free); ${diskFullAdvice(this.opts.dataDir, LOG_FILE)}`,
      );
    this.diskFull = false;
    this.expanderDiskFull = false;
  }

  /**
   * Not ready while ingest waits for an expander that has made no progress for longer than a
   * call may wait (busyTimeoutMs): every batch would be answered 503 after that wait.
   */
  private assertExpanding(): void {
    if (!this.migrated || this.opts.projectsOnly) return;
    if (this.log.pendingEvents < this.opts.maxPendingEvents) return;
    const stalledMs = Date.now() - this.expander.lastProgressAt;
    if (stalledMs > this.opts.busyTimeoutMs)
      throw new ExpansionStalledError(this.log.pendingEvents, stalledMs);
  }

  /**
   * Not ready while another connection holds the ingest log's write lock past
   * READY_LOCK_WAIT_MS (an operator's `sqlite3` session in a transaction, a VACUUM of the file):
   * every ingest commit waits busyTimeoutMs for it and is answered 503. The probe takes the lock
   * an append takes, with no busy timeout (the event loop never sleeps in SQLite's busy
   * handler), and tries again until the bound; it waits its turn as an append does
   * (`WriteTurn.logWrite`), so the expander's own short writes to the file (the idle shrink,
   * with the store's log writes held) never make it fail.
   */
  private async assertLogWritable(): Promise<void> {
    if (!this.migrated || this.opts.projectsOnly) return;
    const giveUpAt = Date.now() + READY_LOCK_WAIT_MS;
    for (;;) {
      if (await this.turn.logWrite(() => this.tryLogLock())) return;
      if (Date.now() >= giveUpAt)
        throw new StoreError(
          'timeout',
          `${this.logPath} is locked by another connection (an sqlite3 session in a transaction, a VACUUM, ` +
            'a backup tool): every ingest call waits busyTimeoutMs for it and is answered 503',
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
      this.assertOpen();
    }
  }

  /** Takes the log file's write lock and lets it go at once; false if another connection holds it. */
  private tryLogLock(): boolean {
    // Appends run whole on this thread, so none is open here; should one ever be, its lock is ours.
    if (this.logDb.inTransaction) return true;
    this.logDb.pragma('busy_timeout = 0');
    try {
      this.logDb.exec('BEGIN IMMEDIATE');
      this.logDb.exec('ROLLBACK');
      return true;
    } catch (err) {
      if (isBusy(err)) return false;
      throw err;
    } finally {
      this.logDb.pragma(`busy_timeout = ${this.opts.busyTimeoutMs}`);
    }
  }

  createProject(name: string): Promise<Project> {
    return this.guarded(() => {
      this.assertReady();
      return this.projects.create(name);
    });
  }

  firstProjectOrCreate(name: string): Promise<{ project: Project; created: boolean }> {
    return this.guarded(() => {
      this.assertReady();
      return this.projects.firstOrCreate(name);
    });
  }

  listProjects(): Promise<Project[]> {
    return this.guarded(() => {
      this.assertReady();
      return this.projects.list();
    });
  }

  findProjectByKey(key: string): Promise<{ project: Project; role: KeyRole } | null> {
    return this.guarded(() => {
      this.assertReady();
      return this.projects.findByKey(key);
    });
  }

  rotateProjectKeys(projectId: string, which: KeysToRotate): Promise<Project> {
    return this.guarded(() => {
      this.assertReady();
      checkKeysToRotate(which);
      return this.projects.rotateKeys(projectId, which);
    });
  }

  removeProject(projectId: string, options?: RemoveProjectOptions): Promise<ProjectRemoval> {
    return this.guarded(() => {
      this.assertReady();
      return this.removal.remove(projectId, options);
    });
  }

  async keysVersion(): Promise<number> {
    this.assertReady();
    try {
      return this.projects.keysVersion();
    } catch (err) {
      throw storageError(err);
    }
  }

  insertEvents(
    projectId: string,
    events: readonly IngestEvent[],
    options?: InsertOptions,
  ): Promise<InsertResult> {
    try {
      this.assertEvents();
      const prepared = prepareEvents(events, { maxPropertiesChars: this.opts.maxPropertiesChars });
      const projectPk = this.projects.pk(projectId);
      if (this.suppressions.due(Date.now())) this.refreshSuppressions();
      // Common case: no project has an erased person, and this is the only look.
      const erased = this.suppressions.size === 0 ? 0 : this.suppressions.dropSuppressed(projectId, prepared);
      if (prepared.events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0, erased });
      return this.commits!.add(
        {
          projectPk,
          keys: prepared.keys,
          call: encodeCall(prepared.events),
          erased,
          checkErased: this.suppressions.has(projectId),
        },
        options?.signal,
      );
    } catch (err) {
      return Promise.reject(this.failure(err));
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

  queryEvents(q: EventQuery): Promise<StoredEvent[]> {
    return this.guarded(async () => {
      this.assertReady();
      const { sinceMs, untilMs, before } = checkQuery(q);
      const pk = this.projects.pkOrNull(q.projectId);
      if (pk === null) return [];
      await this.catchUp();
      const f: EventFilter = { projectPk: pk, event: q.event, distinctId: q.distinctId, sinceMs, untilMs };
      const below: RowPosition = before === null ? NO_POSITION : { ts: before.tsMs, rowid: before.seq };
      const rows = await this.reads.page(f, below, q.limit, q.onCut);
      return rows.map((r) => toEvent(q.projectId, r));
    });
  }

  async *personEvents(projectId: string, distinctId: string): AsyncIterable<StoredEvent> {
    try {
      this.assertReady();
      const pk = this.projects.pkOrNull(projectId);
      if (pk === null) return;
      await this.catchUp();
      yield* this.reads.personEvents(pk, projectId, distinctId);
    } catch (err) {
      throw this.failure(err);
    }
  }

  erasePerson(projectId: string, distinctId: string, requestedBy: string): Promise<number> {
    return this.guarded(() => this.erase(projectId, distinctId, requestedBy));
  }

  private async erase(projectId: string, distinctId: string, requestedBy: string): Promise<number> {
    this.assertEvents();
    checkErasure(distinctId, requestedBy);
    const pk = this.projects.pk(projectId);
    const hash = suppressionHash(projectId, String(distinctId));
    const erasedAt = new Date();
    // The suppression entry first, committed on its own and applied to this store's ingest in
    // the same step: from here on, the person's events up to erasedAt are not acknowledged as
    // stored. If the deletion below fails, the entry stays; the request answers an error and a
    // retry deletes the events (the entry was what the request asked for in any case).
    await this.turn.runAsync(() => {
      this.erasure.insertSuppression(pk, hash, erasedAt.getTime());
      this.suppressions.note(projectId, hash, erasedAt.getTime());
    });
    // Calls queued before the entry was noted were not checked against it: commit them to the
    // log, so that catchUp expands them and the deletion sees them.
    await this.commits!.commitAll();
    // The log rows the person's events may be in: up to here (later ones are not erased).
    const logThrough = this.log.lastLogId();
    await this.catchUp();
    const deleted = await this.erasure.deletePerson(pk, distinctId, requestedBy, erasedAt, logThrough);
    // Their bytes are still in the log's free pages and the WALs: scrubbed when idle (the scrub is
    // recorded as due with the deletion, so a restart before it does it then).
    this.expander.scrub(logThrough);
    return deleted;
  }

  listErasures(q: ErasureQuery): Promise<ErasureRecord[]> {
    return this.guarded(() => {
      this.assertReady();
      const beforeSeq = checkErasureQuery(q);
      const pk = this.projects.pkOrNull(q.projectId);
      if (pk === null) return [];
      return this.erasure.list(pk, q.projectId, beforeSeq, q.limit);
    });
  }

  deleteEventsBefore(cutoff: string, limit: number): Promise<number> {
    return this.guarded(() => {
      this.assertReady();
      return this.retention.deleteBefore(cutoff, limit);
    });
  }

  stats(q: StatsQuery): Promise<StatsResult> {
    return this.guarded(async () => {
      this.assertReady();
      const { fromMs, toMs, intervalMs, maxEvents } = checkStats(q);
      const pk = this.projects.pkOrNull(q.projectId);
      await this.catchUp();
      if (pk === null) return buildBuckets(fromMs, toMs, intervalMs, []);
      return this.reads.stats(pk, fromMs, toMs, intervalMs, maxEvents);
    });
  }

  /**
   * Runs a call's work with SQLite's own failures (busy past busyTimeoutMs behind another
   * process's lock, I/O, a full disk) turned into StoreError, which the server answers 503 with
   * Retry-After: a raw SqliteError was answered 500 `internal`, which says to stop retrying.
   */
  private async guarded<T>(work: () => T | Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** `err` as a call of this store throws it (see guarded); anything not SQLite's stays as it is. */
  private failure(err: unknown): unknown {
    if (err instanceof StoreError) return err;
    // better-sqlite3 refuses calls on a connection close() has closed with a TypeError of its own.
    if (this.closed) return new StoreError('closed', 'the store is closed', { cause: err });
    return isSqliteFailure(err) ? storageError(err) : err;
  }

  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closed = true;
    const budgetEnds = Date.now() + this.opts.closeExpandBudgetMs;
    this.closing = (async () => {
      // Calls already queued are committed (they were accepted before close began), past the
      // backpressure bound: an expander held up by another process's lock must not hold close.
      if (this.commits?.pending) await this.commits.commitAll(true);
      // What is left past the budget stays in the log; the next start expands it.
      if (this.migrated && !this.opts.projectsOnly) {
        const left = await this.expander.stop(this.opts.closeExpandBudgetMs);
        if (left !== 0) this.opts.onClosedWithBacklog?.(left);
        this.trimLog();
        this.scrubBeforeClosing(budgetEnds);
        this.logDb.close();
      }
      this.backlog?.stop();
      this.db.close();
      this.pidClaim?.release();
    })();
    return this.closing;
  }

  /**
   * An erasure's scrub the worker had not done (a stop right after the erasure): done now if it
   * fits in what is left of the close budget, else left recorded for the next start.
   */
  private scrubBeforeClosing(budgetEnds: number): void {
    if (this.openFiles.check(true) !== null) return;
    try {
      const r = scrubAtClose({
        db: this.db,
        logDb: this.logDb,
        path: this.path,
        logPath: this.logPath,
        busyTimeoutMs: this.opts.busyTimeoutMs,
        deadline: budgetEnds,
      });
      if (r.kind === 'scrubbed')
        this.opts.onNotice?.({ level: 'info', message: SCRUBBED_MESSAGE, fields: { logRow: r.through } });
      else if (r.kind === 'left')
        this.opts.onNotice?.({
          level: 'warn',
          message:
            "erased data is not yet scrubbed from the store's files (the ingest log's free pages and the WALs): " +
            'the next start does it once its backlog is expanded',
          fields: { logRow: r.through },
        });
    } catch (err) {
      this.opts.onBackgroundError?.(err);
    }
  }

  /** Files found changed (once): removed WALs are copied in at once (checkpointRemovedWal), and reported. */
  private onFilesChanged(failure: StoreError, walsLostBy: readonly string[]): void {
    // After the look that found it (a ping, a commit), not inside it.
    const rescued = Promise.resolve().then(() =>
      Promise.all(
        walsLostBy.map((database) => {
          const main = database === this.path;
          const run = (): string => checkpointRemovedWal(main ? this.db : this.logDb, database);
          // homing.db in its write turn (after the worker's chunk); the log between its writes.
          return main ? this.turn.runAsync(run) : this.turn.logWrite(run);
        }),
      ),
    );
    void rescued.then(
      (lines) => this.opts.onFilesChanged?.([failure.message, ...lines].join('. ')),
      (err: unknown) => this.opts.onBackgroundError?.(err),
    );
  }

  /** The worker expanded every log row with id ≤ lastId: forget their keys, delete the rows. */
  private onExpanded(lastId: number): void {
    this.expanderDiskFull = false;
    this.log.forgetExpanded(lastId);
    this.backlog?.onExpanded(lastId);
    if (!this.closed) void this.turn.logWrite(() => (this.closed ? undefined : this.trimLog()));
  }

  /**
   * Deletes expanded rows from the log file. A failure only leaves them there a little longer:
   * they are below the expanded id, never expanded again, and the next trim deletes them.
   */
  private trimLog(): void {
    // Files found removed: the rows stay, for the next start to expand again (what they were
    // expanded into may be in a removed homing.db-wal, gone at a crash). Looked at on every trim
    // (a stat per file), so rows expanded into a WAL removed since the last look stay too.
    if (this.openFiles.check(true) !== null) return;
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
