/**
 * The SQL of SqliteStore.queryEvents. A page is at most 1000 rows, but the rows SQLite reads to
 * find them are not bounded by the page: with both an event name and a person, it walked one of
 * the two indexes and read every row of it to test the other column (100 000 rows of one event
 * name to find none of one person's, 1.6 s holding the event loop). Such a query runs in
 * windows of the person's index instead, each a bounded piece of work on a turn of its own.
 */
import { EVENT_COLUMNS } from './sqlite-rows.js';

export interface EventFilter {
  projectPk: number;
  event?: string;
  distinctId?: string;
  sinceMs: number | null;
  untilMs: number | null;
}

/** A position in (ts, rowid) order; rows strictly below it come next in a newest-first page. */
export interface RowPosition {
  ts: number;
  rowid: number;
}

/** Above every timestamp (a Date's range ends at 8.64e15 ms): no upper bound. */
export const NO_POSITION: RowPosition = { ts: Number.MAX_SAFE_INTEGER, rowid: 0 };

/** Whether a filter needs windows: a column the driving index does not hold is tested per row. */
export function needsWindows(f: EventFilter): boolean {
  return f.event !== undefined && f.distinctId !== undefined;
}

function where(f: EventFilter): { sql: string[]; params: unknown[] } {
  const sql = ['project_pk = ?'];
  const params: unknown[] = [f.projectPk];
  const add = (s: string, v: unknown): void => {
    sql.push(s);
    params.push(v);
  };
  if (f.distinctId !== undefined) add('distinct_id = ?', f.distinctId);
  if (f.event !== undefined) add('event = ?', f.event);
  if (f.sinceMs !== null) add('ts >= ?', f.sinceMs);
  if (f.untilMs !== null) add('ts < ?', f.untilMs);
  return { sql, params };
}

/**
 * The index a page walks: the person's when a person is asked for, else the event name's, else
 * the project's time index. Named (INDEXED BY) rather than left to the planner: without
 * statistics it took the time index for a person's page with both ends bounded (since, and
 * the position below), walking every project's event in the range to find one person's.
 */
export function pageIndex(f: EventFilter): 'events_person' | 'events_name' | 'events_ts' {
  return f.distinctId !== undefined ? 'events_person' : f.event !== undefined ? 'events_name' : 'events_ts';
}

/**
 * One newest-first page below `below` (bind params, the position's ts and rowid, then the
 * limit). Without windows every filter is a column of the index it walks, ts ranges included,
 * so it reads no more rows than it returns.
 */
export function pageSql(f: EventFilter): { sql: string; params: unknown[] } {
  const w = where(f);
  return {
    sql: `SELECT ${EVENT_COLUMNS} FROM events INDEXED BY ${pageIndex(f)} WHERE ${w.sql.join(' AND ')}
      AND (ts, rowid) < (?, ?) ORDER BY ts DESC, rowid DESC LIMIT ?`,
    params: w.params,
  };
}

/**
 * For a windowed query (needsWindows): `cut` finds the window's lower end on the person's index
 * alone (a covering scan; bind cutParams, `below`'s ts and rowid, then the window's size as the
 * offset);
 * `window` reads the rows from the cut (inclusive) up to `below` (exclusive), the window's
 * size and the cut (bind below, the cut, then the limit); `last` reads the rest below `below` when
 * no cut was found. INDEXED BY: the planner otherwise picked events_name, whose range is the
 * wrong one to cut (a person has few events of a name; a name has many persons).
 */
export function windowSql(f: EventFilter): {
  cut: string;
  cutParams: unknown[];
  window: string;
  last: string;
  params: unknown[];
} {
  const person: EventFilter = { ...f, event: undefined };
  const p = where(person);
  const w = where(f);
  const from = 'FROM events INDEXED BY events_person';
  const order = 'ORDER BY ts DESC, rowid DESC';
  return {
    cut: `SELECT ts, rowid ${from} WHERE ${p.sql.join(' AND ')} AND (ts, rowid) < (?, ?) ${order} LIMIT 1 OFFSET ?`,
    cutParams: p.params,
    window: `SELECT ${EVENT_COLUMNS} ${from} WHERE ${w.sql.join(' AND ')} AND (ts, rowid) < (?, ?) AND (ts, rowid) >= (?, ?) ${order} LIMIT ?`,
    last: `SELECT ${EVENT_COLUMNS} ${from} WHERE ${w.sql.join(' AND ')} AND (ts, rowid) < (?, ?) ${order} LIMIT ?`,
    params: w.params,
  };
}
