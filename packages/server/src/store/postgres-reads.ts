/**
 * PostgresStore's reads of events: a page of queryEvents, a person's export and stats' counts.
 * The store checks the query and finds the project's pk before calling.
 */
import type { PostgresConnections } from './postgres-connections.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './postgres-rows.js';
import type { checkQuery, StatsRow } from './prepare-events.js';
import { SizedPage } from './sized-page.js';
import { PAGE_PROPERTIES_CHARS, type EventQuery, type StoredEvent } from './store.js';

const EXPORT_PAGE = 500;

/** Rows the first query of a page reads: 16 events of 1 MB are 16 MB. */
const FIRST_BATCH = 16;
/** How much each next query of a page may grow over the one before it. */
const BATCH_GROWTH = 4;

/**
 * A page of up to `limit` rows read in keyset batches, stopping once their properties reach
 * PAGE_PROPERTIES_CHARS (the row that reaches it included; counted in UTF-16 code units, as
 * SQLite's reads count them). One query with LIMIT `limit` read (and decompressed) every row up
 * to it whatever their size, and PostgreSQL has no way to stop a scan at a running sum: a window
 * over the sizes still read 1 000 events of 1 MB to answer 8. The batches start small and grow
 * (×4) while the rows stay small, so a page of small events still takes 2 to 4 queries.
 * `read(after, n)`: the next at most `n` rows after the last one read (`null`: from the start).
 */
async function readSized(
  limit: number,
  read: (after: EventRow | null, n: number) => Promise<EventRow[]>,
): Promise<SizedPage<EventRow>> {
  const page = new SizedPage<EventRow>(limit);
  const { rows } = page;
  let n = Math.min(limit, FIRST_BATCH);
  for (;;) {
    const batch = await read(rows.length === 0 ? null : rows[rows.length - 1]!, n);
    for (const row of batch) if (page.add(row)) return page;
    if (batch.length < n || rows.length >= limit) return page;
    // As many as the room left holds at the size seen so far, at most BATCH_GROWTH times more.
    const chars = page.propertiesChars;
    const fit = Math.ceil((PAGE_PROPERTIES_CHARS - chars) / Math.max(1, chars / rows.length));
    n = Math.max(1, Math.min(limit - rows.length, n * BATCH_GROWTH, fit));
  }
}

/** One newest-first page of the project `pk`'s events matching `q` (checked by checkQuery). */
export async function readEventPage(
  connections: PostgresConnections,
  pk: string,
  q: EventQuery,
  { sinceMs, untilMs, before }: ReturnType<typeof checkQuery>,
): Promise<StoredEvent[]> {
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
  const filter = where.join(' AND ');
  const { rows, cut } = await readSized(q.limit, async (after, n) => {
    const args = [...params];
    let keyset = '';
    if (after !== null) {
      args.push(after.ts, after.seq);
      keyset = ` AND (ts, seq) < ($${args.length - 1}, $${args.length})`;
    }
    args.push(n);
    const r = await connections.longQuery<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE ${filter}${keyset} ORDER BY ts DESC, seq DESC LIMIT $${args.length}`,
      args,
    );
    return r.rows;
  });
  if (cut) q.onCut?.();
  return rows.map((row) => toEvent(q.projectId, row));
}

/** Every event of one person of the project `pk`, oldest first, a page per query. */
export async function* readPersonEvents(
  connections: PostgresConnections,
  pk: string,
  projectId: string,
  distinctId: string,
): AsyncIterable<StoredEvent> {
  // Keyset pages: no transaction or cursor held open while the consumer is slow.
  let from: [string, string] = [String(Number.MIN_SAFE_INTEGER), '-1'];
  for (;;) {
    const { rows, cut } = await readSized(EXPORT_PAGE, async (after, n) => {
      const r = await connections.longQuery<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE project_pk = $1 AND distinct_id = $2 AND (ts, seq) > ($3, $4)
           ORDER BY ts, seq LIMIT $5`,
        [pk, distinctId, after?.ts ?? from[0], after?.seq ?? from[1], n],
      );
      return r.rows;
    });
    for (const row of rows) yield toEvent(projectId, row);
    if (rows.length < EXPORT_PAGE && !cut) return;
    const last = rows[rows.length - 1]!;
    from = [last.ts, last.seq];
  }
}

/**
 * The project `pk`'s events in [fromMs, toMs) counted per bucket of `intervalMs` and name, folded
 * in the query as StatsTally folds SQLite's: the `maxEvents` names with the most events over the
 * range (ties in code point order, the "C" collation of UTF-8) keep their name, the others' rows
 * come back as one per bucket with a null name, so no more than buckets × (maxEvents + 1) rows
 * reach the server however many names the range holds. Answers buildBuckets' rows and how many
 * names were left out.
 */
export async function countEventsByBucket(
  connections: PostgresConnections,
  pk: string,
  fromMs: number,
  toMs: number,
  intervalMs: number,
  maxEvents: number,
): Promise<{ rows: StatsRow[]; otherNames: number }> {
  // Ranked by window functions rather than by joining the counts to the top names: on a table
  // not yet analyzed the planner took that join for one row and made it a nested loop (100 000
  // names: over 4 s instead of 0.3).
  const r = await connections.longQuery<{ b: string; event: string | null; n: string; last_rank: string }>(
    `WITH counts AS (
       SELECT (ts - $1) / $2 AS b, event, count(*) AS n FROM events
        WHERE project_pk = $3 AND ts >= $1 AND ts < $4 GROUP BY b, event
     ), ranked AS (
       SELECT b, event, n, dense_rank() OVER (ORDER BY total DESC, event COLLATE "C") AS r
         FROM (SELECT b, event, n, sum(n) OVER (PARTITION BY event) AS total FROM counts) t
     )
     SELECT b, CASE WHEN r <= $5 THEN event END AS event, sum(n) AS n, max(r) AS last_rank
       FROM ranked GROUP BY b, 2`,
    [fromMs, intervalMs, pk, toMs, maxEvents],
  );
  // A name's rank is the same in every row of it, so the largest is the number of names.
  let names = 0;
  for (const row of r.rows) names = Math.max(names, Number(row.last_rank));
  return {
    rows: r.rows.map((row) => ({ b: Number(row.b), event: row.event, n: Number(row.n) })),
    otherNames: Math.max(0, names - maxEvents),
  };
}
