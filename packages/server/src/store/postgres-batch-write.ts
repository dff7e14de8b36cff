import { StoreError } from './errors.js';
import type { PostgresConnections } from './postgres-connections.js';
import { retryingConflicts } from './postgres-retry.js';
import type { PreparedBatch } from './prepare-events.js';

/**
 * The batch in one statement, with its project's row locked FOR SHARE while it runs: a removal
 * marking the project (an UPDATE) waits for it, and a batch after the mark, waiting for the mark
 * to commit if need be (READ COMMITTED re-reads the row it waited for), finds no live project and
 * stores nothing. It then answers a single row whose key is NULL (see ProjectRemovedError).
 */
const INSERT_EVENTS = `WITH live AS (SELECT pk FROM projects WHERE pk = $1 AND removed_at IS NULL FOR SHARE),
       inserted AS (
         INSERT INTO events (project_pk, key, uuid_text, event, distinct_id, ts, original_ts, received_at, properties)
         SELECT live.pk, u.* FROM live,
           unnest($2::bytea[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::json[]) AS u
         ON CONFLICT (project_pk, key) DO NOTHING RETURNING key
       )
       SELECT key FROM inserted UNION ALL SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM live)`;

/** A batch found its project removed (or gone): nothing of it was stored. */
export class ProjectRemovedError extends StoreError {
  constructor() {
    super('unknown-project', 'the project was removed');
  }
}

/**
 * For a project with erased persons: takes the batch's events whose keys an erasure deleted
 * (`erased_keys`) out of the batch, in place (`batch.events` stays the same array), reports
 * how many, and writes the rest. One indexed lookup per batch; a resend of an erased event is
 * erased, not stored, whatever timestamp the server gave it (see suppressions.ts).
 */
export async function writeUnlessErased(
  connections: PostgresConnections,
  pk: string,
  batch: PreparedBatch,
  onErased: (n: number) => void,
): Promise<Buffer[]> {
  const n = batch.events.length;
  const keyOf = (i: number): Buffer => batch.keys.subarray(i * 16, i * 16 + 16);
  const found = await connections.query<{ key: Buffer }>(
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
  return batch.events.length === 0 ? [] : writeEvents(connections, pk, batch);
}

/**
 * One `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING` of the batch (atomic, exactly once
 * per (project, key)); resolves the keys it stored (the events that were new). Rejects with a
 * ProjectRemovedError, nothing stored, when the project was removed.
 */
export async function writeEvents(
  connections: PostgresConnections,
  pk: string,
  { events: prepared, keys }: PreparedBatch,
): Promise<Buffer[]> {
  const keyOf = prepared.map((_, i) => keys.subarray(i * 16, i * 16 + 16));
  // Same lock order for every batch: overlapping concurrent batches cannot deadlock.
  const order = prepared.map((_, i) => i).sort((a, b) => Buffer.compare(keyOf[a]!, keyOf[b]!));
  const sorted = order.map((i) => prepared[i]!);
  const r = await retryingConflicts<{ key: Buffer | null }>(connections, INSERT_EVENTS, [
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
  if (r.rows.length === 1 && r.rows[0]!.key === null) throw new ProjectRemovedError();
  return r.rows.map((row) => row.key!);
}
