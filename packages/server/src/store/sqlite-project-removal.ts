import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { nextBatchSize } from './batchSizer.js';
import { StoreError } from './errors.js';
import { nextTurn } from './next-turn.js';
import type { SqliteProjects } from './sqlite-projects.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import type { ProjectRemoval, RemoveProjectOptions } from './store.js';
import type { Suppressions } from './suppressions.js';

/**
 * A removal's transactions: about 30 ms each of homing.db's write lock (and of the event loop),
 * like retention's, so a running server's expansion and ingest wait no longer than that.
 */
const REMOVAL_BATCH = { targetMs: 30, min: 50, max: 5000 } as const;
/** Rows of the ingest log emptied per transaction (a row holds a whole call's events). */
const LOG_BATCH = { targetMs: 30, min: 5, max: 500 } as const;
/** Rounds of deletion before rows that keep appearing are reported instead of chased. */
const MAX_ROUNDS = 3;
/**
 * Records the scrub of the store's files as due through a log id (SQLite migration 8, as an
 * erasure does): what a removal deletes or empties stays in the ingest log's free pages and in
 * both WALs until a server's expander scrubs them (at an idle moment, at close, or after its next
 * start).
 */
const SCRUB_DUE = 'UPDATE ingest_progress SET scrub_through = max(scrub_through, ?) WHERE id = 1';

/**
 * The project's rows in homing.db, table by table: each statement takes the pk (twice where it
 * names it twice) and the batch size.
 */
const DELETIONS = {
  events: {
    sql: 'DELETE FROM events WHERE rowid IN (SELECT rowid FROM events WHERE project_pk = ? LIMIT ?)',
    pks: 1,
  },
  erasures: {
    sql: 'DELETE FROM erasures WHERE id IN (SELECT id FROM erasures WHERE project_pk = ? LIMIT ?)',
    pks: 1,
  },
  suppressions: {
    sql: 'DELETE FROM suppressions WHERE id IN (SELECT id FROM suppressions WHERE project_pk = ? LIMIT ?)',
    pks: 1,
  },
  erasedKeys: {
    sql: 'DELETE FROM erased_keys WHERE project_pk = ? AND key IN (SELECT key FROM erased_keys WHERE project_pk = ? LIMIT ?)',
    pks: 2,
  },
} as const;

const COUNTS = {
  events: 'SELECT count(*) FROM events WHERE project_pk = ?',
  erasures: 'SELECT count(*) FROM erasures WHERE project_pk = ?',
  suppressions: 'SELECT count(*) FROM suppressions WHERE project_pk = ?',
  erasedKeys: 'SELECT count(*) FROM erased_keys WHERE project_pk = ?',
} as const;

/** Whether any row of homing.db names the pk (given four times). */
const ANY_LEFT = `SELECT EXISTS (SELECT 1 FROM events WHERE project_pk = ?)
  OR EXISTS (SELECT 1 FROM erasures WHERE project_pk = ?)
  OR EXISTS (SELECT 1 FROM suppressions WHERE project_pk = ?)
  OR EXISTS (SELECT 1 FROM erased_keys WHERE project_pk = ?)`;

/**
 * The ingest log's file for the length of a removal: `write` runs `fn` on a connection to it
 * when the store's own log writes allow (the store's connection between its group commits, or
 * one of the removal's own beside a running server, which SQLite's lock then serialises).
 */
export interface LogFileAccess {
  write<T>(fn: (logDb: Database.Database) => T): Promise<T>;
  close(): void;
}

/**
 * SqliteStore's `removeProject`: marks the project removed (sqlite-projects.ts), then deletes its
 * rows from homing.db table by table in transactions sized by time, each in the write turn with
 * a turn of the event loop between them, empties its rows still in the ingest log, and deletes
 * the project's row once nothing names it.
 *
 * Nothing of the project comes back, whatever else runs on the data directory: the expander (of
 * this store or a server in another process) skips log rows of a project marked removed, reading
 * the mark in its own transaction under homing.db's write lock, so what it expanded before the
 * mark is in `events` for the deletion below, and nothing after it. A server that still has the
 * project's write key cached keeps acknowledging into its log for a moment (see WriteKeys); those
 * rows are skipped the same way and trimmed. The row deleted last, its pk is never handed out
 * again (AUTOINCREMENT, schema version 6).
 */
export class SqliteProjectRemoval {
  /** Each table's next batch size (their rows cost differently: events touch four indexes). */
  private readonly sizes = new Map<string, number>();
  private logRows: number = LOG_BATCH.min;

  constructor(
    private readonly db: Database.Database,
    private readonly turn: WriteTurn,
    private readonly projects: SqliteProjects,
    /** The store's suppression entries in memory: the project's are dropped with it. */
    private readonly suppressions: Suppressions,
    /** Throws once the store is closed: checked before each batch. */
    private readonly assertOpen: () => void,
    /** The ingest log's file, or null when there is none. */
    private readonly openLog: () => LogFileAccess | null,
    /** A scrub through this log id was recorded as due (a running expander is told at once). */
    private readonly onScrubDue: (through: number) => void = () => {},
  ) {}

  async remove(projectId: string, options: RemoveProjectOptions = {}): Promise<ProjectRemoval> {
    const dryRun = options.dryRun === true;
    const target = await this.projects.removalTarget(projectId, !dryRun);
    if (target === undefined) throw new StoreError('unknown-project', `no project ${String(projectId)}`);
    const { pk, project } = target;
    const log = this.openLog();
    try {
      const count = (sql: string): number => this.db.prepare(sql).pluck().get(pk) as number;
      const removal: ProjectRemoval = {
        project,
        events: count(COUNTS.events),
        erasures: count(COUNTS.erasures),
        suppressions: count(COUNTS.suppressions),
        erasedKeys: count(COUNTS.erasedKeys),
        pendingEvents: log === null ? 0 : await this.pendingEvents(log, pk),
      };
      if (dryRun) return removal;
      // Before anything is deleted, and again with each deleting transaction (an expander may scrub
      // between two of them and clear the record), so a removal cut short or a server stopped
      // before its scrub still has it done: the log rows the project's events are or were in are
      // at most the newest one now, and those a server still caching its key adds are emptied below.
      let scrubThrough = await this.logThrough(log);
      await this.recordScrubDue(scrubThrough);
      let deletedEvents = 0;
      const onEvents = (n: number): void => {
        deletedEvents += n;
        options.onProgress?.(deletedEvents, Math.max(removal.events, deletedEvents));
      };
      for (let round = 1; ; round++) {
        await this.deleteAll('events', pk, scrubThrough, onEvents);
        await this.deleteAll('erasures', pk, scrubThrough);
        await this.deleteAll('suppressions', pk, scrubThrough);
        await this.deleteAll('erasedKeys', pk, scrubThrough);
        if (log !== null) {
          scrubThrough = Math.max(scrubThrough, await this.logThrough(log));
          await this.recordScrubDue(scrubThrough);
          const emptied = await this.emptyLogRows(log, pk);
          if (emptied > scrubThrough) {
            scrubThrough = emptied;
            await this.recordScrubDue(scrubThrough);
          }
        }
        if (await this.deleteRowIfBare(pk)) break;
        if (round >= MAX_ROUNDS)
          throw new StoreError(
            'storage',
            `rows of project ${project.id} were still being written after ${MAX_ROUNDS} rounds of ` +
              'deletion (a Homing older than schema version 6 serving this data directory?): stop ' +
              'it and run the removal again',
          );
      }
      removal.events = Math.max(removal.events, deletedEvents);
      this.onScrubDue(scrubThrough);
      return removal;
    } finally {
      log?.close();
      // Marked removed, the project has no use for them even if the deletion broke off.
      if (!dryRun) this.suppressions.forget(project.id);
    }
  }

  /** Events of the project in the ingest log not yet expanded (rows above the expanded id). */
  private pendingEvents(log: LogFileAccess, pk: number): Promise<number> {
    const expanded =
      (this.db.prepare('SELECT expanded_through FROM ingest_progress WHERE id = 1').pluck().get() as
        number | undefined) ?? 0;
    return log.write(
      (logDb) =>
        logDb
          .prepare('SELECT coalesce(sum(n), 0) FROM ingest_log WHERE project_pk = ? AND id > ?')
          .pluck()
          .get(pk, expanded) as number,
    );
  }

  /**
   * The newest ingest log id (expanded or not) the project's events may be in: where the scrub is
   * due through. At least 1, as 0 records no scrub.
   */
  private async logThrough(log: LogFileAccess | null): Promise<number> {
    const expanded =
      (this.db.prepare('SELECT expanded_through FROM ingest_progress WHERE id = 1').pluck().get() as
        number | undefined) ?? 0;
    const newest =
      log === null
        ? 0
        : await log.write(
            (logDb) => (logDb.prepare('SELECT max(id) FROM ingest_log').pluck().get() as number | null) ?? 0,
          );
    return Math.max(1, expanded, newest);
  }

  /** Records the scrub as due through `through`, in a transaction of its own. */
  private recordScrubDue(through: number): Promise<void> {
    const stmt = this.db.prepare(SCRUB_DUE);
    return this.turn.runAsync(() => {
      stmt.run(through);
    });
  }

  /**
   * Deletes every row of `table` naming `pk`, a batch a transaction, each recording the scrub as
   * due through `scrubThrough`; `onBatch` gets each count.
   */
  private async deleteAll(
    table: keyof typeof DELETIONS,
    pk: number,
    scrubThrough: number,
    onBatch?: (n: number) => void,
  ): Promise<void> {
    const { sql, pks } = DELETIONS[table];
    const stmt = this.db.prepare(sql);
    const scrubDue = this.db.prepare(SCRUB_DUE);
    const batch = this.db.transaction((size: number): number => {
      const changes = (pks === 1 ? stmt.run(pk, size) : stmt.run(pk, pk, size)).changes;
      if (changes > 0) scrubDue.run(scrubThrough);
      return changes;
    });
    for (let first = true; ; first = false) {
      if (!first) await nextTurn();
      this.assertOpen();
      const size = this.sizes.get(table) ?? REMOVAL_BATCH.min;
      const { n, ms } = await this.turn.runAsync(() => {
        const t0 = performance.now();
        const changes = batch.immediate(size);
        return { n: changes, ms: performance.now() - t0 };
      });
      if (n > 0) onBatch?.(n);
      // A short batch (the last) says little about the size, unless it overran the target even so.
      if (n === size || (n > 0 && ms > REMOVAL_BATCH.targetMs))
        this.sizes.set(table, nextBatchSize(n, ms, REMOVAL_BATCH));
      if (n < size) return;
    }
  }

  /**
   * Empties the project's rows still in the ingest log (events acknowledged and not expanded):
   * emptied rather than deleted, so the ids a running server waits to see expanded stay there
   * in order; its expander skips them and its trim deletes them. Answers the highest id emptied
   * (0: none).
   */
  private async emptyLogRows(log: LogFileAccess, pk: number): Promise<number> {
    let after = 0;
    for (let first = true; ; first = false) {
      if (!first) await nextTurn();
      this.assertOpen();
      const size = this.logRows;
      const { ids, ms } = await log.write((logDb) => {
        const t0 = performance.now();
        const emptied = logDb
          .prepare(
            `UPDATE ingest_log SET n = 0, keys = x'', payload = '[]' WHERE id IN
               (SELECT id FROM ingest_log WHERE id > ? AND project_pk = ? AND n > 0 ORDER BY id LIMIT ?)
             RETURNING id`,
          )
          .pluck()
          .all(after, pk, size) as number[];
        return { ids: emptied, ms: performance.now() - t0 };
      });
      for (const id of ids) after = Math.max(after, id);
      if (ids.length === size || (ids.length > 0 && ms > LOG_BATCH.targetMs))
        this.logRows = nextBatchSize(ids.length, ms, LOG_BATCH);
      if (ids.length < size) return after;
    }
  }

  /** Deletes the project's row when no row of homing.db names it any more; false otherwise. */
  private deleteRowIfBare(pk: number): Promise<boolean> {
    return this.turn.runAsync(() =>
      this.db
        .transaction(() => {
          if (this.db.prepare(ANY_LEFT).pluck().get(pk, pk, pk, pk) === 1) return false;
          this.db.prepare('DELETE FROM projects WHERE pk = ?').run(pk);
          return true;
        })
        .immediate(),
    );
  }
}

/**
 * The ingest log's file opened for a removal by a store that does not keep it open (one opened
 * for projects only, as `homing projects` does beside a running server), or null when there is
 * no log file (nothing was ever ingested into this data directory).
 */
export function logFileOfItsOwn(logPath: string, busyTimeoutMs: number): LogFileAccess | null {
  if (!existsSync(logPath)) return null;
  const logDb = new Database(logPath, { timeout: busyTimeoutMs, fileMustExist: true });
  try {
    const hasLog = logDb
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ingest_log'")
      .get();
    if (hasLog === undefined) {
      logDb.close();
      return null;
    }
  } catch (err) {
    logDb.close();
    throw err;
  }
  return { write: async (fn) => fn(logDb), close: () => logDb.close() };
}
