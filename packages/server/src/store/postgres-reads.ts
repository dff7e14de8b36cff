/**
 * PostgresStore's reads of events: a page of queryEvents, a person's export and stats' counts.
 * The store checks the query and finds the project's pk before calling.
 */
import type { PostgresConnections } from './postgres-connections.js';
import { EVENT_COLUMNS, type EventRow, toEvent } from './postgres-rows.js';
import type { checkQuery, StatsRow } from './prepare-events.js';
import { PAGE_PROPERTIES_CHARS, type EventQuery, type StoredEvent } from './store.js';

const EXPORT_PAGE = 500;

/**
 * A page query ordered by `order`, cut at PAGE_PROPERTIES_CHARS of properties (the row that
 * reaches it included): the running sum is a window over the rows in the page's order, which
 * PostgreSQL computes as they stream from the index, so the rows past the cut are neither read
 * whole into the answer nor sent. `through_chars` of the last row says whether the cut was reached.
 */
function sizedPageSql(where: string, order: string, limit: string): string {
  return `SELECT * FROM (
      SELECT ${EVENT_COLUMNS}, sum(length(properties::text)) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING) AS through_chars
        FROM events WHERE ${where} ORDER BY ${order} LIMIT ${limit}
    ) page WHERE through_chars - length(properties) < ${PAGE_PROPERTIES_CHARS} ORDER BY ${order}`;
}

type SizedRow = EventRow & { through_chars: string };

/** Whether a page short of its limit stopped at the size bound (more may follow). */
function cutBySize(rows: readonly SizedRow[], limit: number): boolean {
  return (
    rows.length > 0 &&
    rows.length < limit &&
    Number(rows[rows.length - 1]!.through_chars) >= PAGE_PROPERTIES_CHARS
  );
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
  params.push(q.limit);
  const r = await connections.longQuery<SizedRow>(
    sizedPageSql(where.join(' AND '), 'ts DESC, seq DESC', `$${params.length}`),
    params,
  );
  if (cutBySize(r.rows, q.limit)) q.onCut?.();
  return r.rows.map((row) => toEvent(q.projectId, row));
}

/** Every event of one person of the project `pk`, oldest first, a page per query. */
export async function* readPersonEvents(
  connections: PostgresConnections,
  pk: string,
  projectId: string,
  distinctId: string,
): AsyncIterable<StoredEvent> {
  // Keyset pages: no transaction or cursor held open while the consumer is slow.
  let after: [string, string] = [String(Number.MIN_SAFE_INTEGER), '-1'];
  for (;;) {
    const r = await connections.longQuery<SizedRow>(
      sizedPageSql(
        'project_pk = $1 AND distinct_id = $2 AND (ts, seq) > ($3, $4)',
        'ts, seq',
        String(EXPORT_PAGE),
      ),
      [pk, distinctId, after[0], after[1]],
    );
    for (const row of r.rows) yield toEvent(projectId, row);
    if (r.rows.length < EXPORT_PAGE && !cutBySize(r.rows, EXPORT_PAGE)) return;
    const last = r.rows[r.rows.length - 1]!;
    after = [last.ts, last.seq];
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
