import type Database from 'better-sqlite3';
import { type BatchSizeOptions, nextBatchSize } from './batchSizer.js';
import { nextTurn } from './next-turn.js';
import { StatsTally } from './prepare-events.js';
import type { RowPosition } from './sqlite-event-query.js';
import type { StatsResult } from './store.js';

/**
 * Events a stats query counts per turn of the event loop, sized by time (about 20 ms each). Each
 * piece is one synchronous better-sqlite3 statement, which nothing can interrupt, so the target
 * is what one step of the query holds the loop (a piece of ~20 000 rows of a wide range took
 * 50-150 ms at a 50 ms target on a loaded machine; the next piece shrinks as far as it says).
 */
export const STATS_PIECE = { start: 2000, targetMs: 20, min: 500, max: 200_000 } as const;

/** Below every rowid SQLite hands out (they can be negative when inserted so). */
const FIRST_ROWID = Number.MIN_SAFE_INTEGER;

/** What a row counts as: its bucket from the range's start (integer division) and its name. */
const COUNTED = 'SELECT (ts - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS b, event, count(*) AS n';
const FROM = 'FROM events INDEXED BY events_ts WHERE project_pk = ?';

/**
 * The project's events in [fromMs, toMs) counted per bucket and name in pieces of about
 * `piece.targetMs` each, a turn of the event loop between them, then folded to the `maxEvents`
 * names with the most events (StatsTally), the fold in turns of its own.
 *
 * Pieces are cut in (ts, rowid) order, not by timestamp alone: cut on timestamps, all the rows
 * sharing one (a date-only import puts a day's events at midnight) were one piece, and a million
 * of them held the loop for seconds in one statement. SQLite seeks an index on a row value
 * `(ts, rowid) >= (?, ?)` by its ts alone and then walks the rows of that ts, which would make
 * each piece of such a group cost the rows before it; so a piece is counted as up to three index
 * ranges, each sought exactly: the rest of its first timestamp (`ts = ? AND rowid >= ?`), the
 * timestamps strictly between, and the head of its last timestamp (`ts = ? AND rowid < ?`).
 * Every row of the range is in exactly one range of one piece, and the tally adds up counts of
 * a (bucket, name) met more than once, so the answer is the one a single statement gives.
 */
export async function countStatsInPieces(
  db: Database.Database,
  assertOpen: () => void,
  q: { pk: number; fromMs: number; toMs: number; intervalMs: number; maxEvents: number },
  piece: BatchSizeOptions & { start: number } = STATS_PIECE,
): Promise<StatsResult> {
  const { pk, fromMs, toMs, intervalMs } = q;
  const sql = {
    // The end of a piece inside its first timestamp's rows, `size` rows on.
    cutInTs: db
      .prepare(`SELECT rowid ${FROM} AND ts = ? AND rowid >= ? ORDER BY rowid LIMIT 1 OFFSET ?`)
      .pluck(),
    restOfTs: db.prepare(`SELECT count(*) ${FROM} AND ts = ? AND rowid >= ?`).pluck(),
    // Else the end among later timestamps, after the rows left in the first one.
    cutAfterTs: db.prepare(
      `SELECT ts, rowid ${FROM} AND ts > ? AND ts < ? ORDER BY ts, rowid LIMIT 1 OFFSET ?`,
    ),
    inTs: db.prepare(`${COUNTED} ${FROM} AND ts = ? AND rowid >= ? AND rowid < ? GROUP BY b, event`),
    restOfTsRows: db.prepare(`${COUNTED} ${FROM} AND ts = ? AND rowid >= ? GROUP BY b, event`),
    between: db.prepare(`${COUNTED} ${FROM} AND ts > ? AND ts < ? GROUP BY b, event`),
    headOfTs: db.prepare(`${COUNTED} ${FROM} AND ts = ? AND rowid < ? GROUP BY b, event`),
  };
  const tally = new StatsTally();
  const add = (rows: Iterable<unknown>): void => {
    for (const r of rows) {
      const { b, event, n } = r as { b: number; event: string; n: number };
      tally.add(b, event, n);
    }
  };
  let size = piece.start;
  for (let at: RowPosition = { ts: fromMs, rowid: FIRST_ROWID }; ;) {
    assertOpen();
    const t0 = performance.now();
    const end = pieceEnd(sql, pk, at, toMs, size);
    if (end !== undefined && end.ts === at.ts) {
      add(sql.inTs.iterate(fromMs, intervalMs, pk, at.ts, at.rowid, end.rowid));
    } else {
      add(sql.restOfTsRows.iterate(fromMs, intervalMs, pk, at.ts, at.rowid));
      add(sql.between.iterate(fromMs, intervalMs, pk, at.ts, end?.ts ?? toMs));
      if (end !== undefined) add(sql.headOfTs.iterate(fromMs, intervalMs, pk, end.ts, end.rowid));
    }
    // The last piece, cut short by the range's end, says nothing about the size.
    if (end === undefined) break;
    size = nextBatchSize(size, performance.now() - t0, piece);
    at = end;
    await nextTurn();
  }
  // Folding a range of many names takes turns of its own (a million took seconds in one).
  return tally.fold(fromMs, toMs, intervalMs, q.maxEvents, async () => {
    await nextTurn();
    assertOpen();
  });
}

/** The position `size` rows after `at` in (ts, rowid) order below `toMs`; undefined: none. */
function pieceEnd(
  sql: {
    cutInTs: Database.Statement;
    restOfTs: Database.Statement;
    cutAfterTs: Database.Statement;
  },
  pk: number,
  at: RowPosition,
  toMs: number,
  size: number,
): RowPosition | undefined {
  const inTs = sql.cutInTs.get(pk, at.ts, at.rowid, size) as number | undefined;
  if (inTs !== undefined) return { ts: at.ts, rowid: inTs };
  const left = sql.restOfTs.get(pk, at.ts, at.rowid) as number;
  return sql.cutAfterTs.get(pk, at.ts, toMs, size - left) as RowPosition | undefined;
}
