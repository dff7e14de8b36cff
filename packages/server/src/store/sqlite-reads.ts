import type Database from 'better-sqlite3';
import { nextBatchSize } from './batchSizer.js';
import { nextTurn } from './next-turn.js';
import {
  needsWindows,
  pageSql,
  windowSql,
  type EventFilter,
  type RowPosition,
} from './sqlite-event-query.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './sqlite-rows.js';
import { SizedPage } from './sized-page.js';
import { countStatsInPieces } from './sqlite-stats.js';
import type { StatsResult, StoredEvent } from './store.js';

const EXPORT_PAGE = 500;
/** Rows of a person's index a filtered page reads per turn (queryInWindows): about 30 ms each. */
const QUERY_WINDOW = { start: 1000, targetMs: 30, min: 200, max: 50_000 } as const;

/**
 * SqliteStore's reads of events on the event loop's connection: a page of queryEvents, a
 * person's export and stats. Each reads in bounded pieces with a turn of the event loop between
 * them, so no read of a large person or range holds the loop. The store checks the query and
 * waits for the expander (catchUp) before calling.
 */
export class SqliteReads {
  constructor(
    private readonly db: Database.Database,
    /** Throws once the store is closed: checked before each piece. */
    private readonly assertOpen: () => void,
  ) {}

  /**
   * One newest-first page of events matching `f` below `below`, at most `limit`, stopping at
   * PAGE_PROPERTIES_CHARS (`onCut` then called).
   */
  async page(f: EventFilter, below: RowPosition, limit: number, onCut?: () => void): Promise<EventRow[]> {
    if (needsWindows(f)) return this.queryInWindows(f, below, limit, onCut);
    const { sql, params } = pageSql(f);
    const page = new SizedPage<EventRow>(limit, onCut);
    for (const r of this.db.prepare(sql).iterate(...params, below.ts, below.rowid, limit)) {
      if (page.add(r as EventRow)) break;
    }
    return page.rows;
  }

  /**
   * A page filtered by both event name and person, read in windows of the person's index
   * (windowSql) sized by time, with a turn of the event loop between them: the rows a page
   * has to look at are not bounded by its limit (a person with 200 000 events, none of them
   * of the name asked for).
   */
  private async queryInWindows(
    f: EventFilter,
    below: RowPosition,
    limit: number,
    onCut?: () => void,
  ): Promise<EventRow[]> {
    const sql = windowSql(f);
    const cut = this.db.prepare(sql.cut);
    const inWindow = this.db.prepare(sql.window);
    const rest = this.db.prepare(sql.last);
    const page = new SizedPage<EventRow>(limit, onCut);
    const rows = page.rows;
    let size: number = QUERY_WINDOW.start;
    for (let at = below, first = true; ; first = false) {
      if (!first) await nextTurn();
      this.assertOpen();
      const t0 = performance.now();
      const end = cut.get(...sql.cutParams, at.ts, at.rowid, size) as RowPosition | undefined;
      const found =
        end === undefined
          ? rest.iterate(...sql.params, at.ts, at.rowid, limit - rows.length)
          : inWindow.iterate(...sql.params, at.ts, at.rowid, end.ts, end.rowid, limit - rows.length);
      for (const r of found) {
        if (page.add(r as EventRow)) return rows;
      }
      if (end === undefined || rows.length >= limit) return rows;
      at = end;
      size = nextBatchSize(size, performance.now() - t0, QUERY_WINDOW);
    }
  }

  /** Every event of one person of the project `pk`, oldest first, a page per turn. */
  async *personEvents(pk: number, projectId: string, distinctId: string): AsyncIterable<StoredEvent> {
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
      const sized = new SizedPage<EventRow>(EXPORT_PAGE);
      for (const r of page.iterate(pk, distinctId, after[0], after[1])) {
        if (sized.add(r as EventRow)) break;
      }
      const rows = sized.rows;
      for (const r of rows) yield toEvent(projectId, r);
      if (rows.length < EXPORT_PAGE && !sized.cut) return;
      const last = rows[rows.length - 1]!;
      after = [last.ts, last.rowid];
    }
  }

  /**
   * The project `pk`'s events in [fromMs, toMs) counted per bucket of `intervalMs` and name, the
   * `maxEvents` names with the most events named and the others counted as `other`, in pieces
   * (countStatsInPieces).
   */
  stats(
    pk: number,
    fromMs: number,
    toMs: number,
    intervalMs: number,
    maxEvents: number,
  ): Promise<StatsResult> {
    return countStatsInPieces(this.db, this.assertOpen, { pk, fromMs, toMs, intervalMs, maxEvents });
  }
}
