import type { PostgresConnections } from './postgres-connections.js';
import { parseIsoMs } from './parse-iso.js';
import type { PreparedBatch } from './prepare-events.js';
import { suppressionHash, type Suppressions } from './suppressions.js';

/**
 * A write that committed later than the sweep delay, less this, after the suppression read it
 * was checked against began reads the entries again after its commit (see PostgresStore.insertEvents).
 */
export const LATE_WRITE_MARGIN_MS = 250;

/**
 * The batch's events of persons erased at or after their timestamp or their receipt (the rule
 * of the erasure's own DELETE and of the second deletion), or their own time where they were
 * stamped with the receive time (`eventMs`, as at ingest), reading the suppression entries of
 * the batch's persons now (not the refreshed copy). Counts them all as erased (`events`; of
 * them, `inserted` were stored by this call) and deletes them where stored, matched by key
 * AND person AND the erasure's rule: never another person's event that shares a key.
 * The entries found are noted in `suppressions`.
 */
export async function dropLateErased(
  connections: PostgresConnections,
  suppressions: Suppressions,
  projectId: string,
  pk: string,
  batch: PreparedBatch,
  inserted: readonly Buffer[],
): Promise<{ events: number; inserted: number }> {
  const hashes = new Map<string, Buffer>();
  for (const e of batch.events) {
    if (!hashes.has(e.distinctId)) hashes.set(e.distinctId, suppressionHash(projectId, e.distinctId));
  }
  const found = await connections.query<{ hash: Buffer; erased_at_ms: string }>(
    'SELECT hash, max(erased_at_ms) AS erased_at_ms FROM suppressions WHERE project_pk = $1 AND hash = ANY($2::bytea[]) GROUP BY hash',
    [pk, [...hashes.values()]],
  );
  if (found.rows.length === 0) return { events: 0, inserted: 0 };
  const erasedAt = new Map(found.rows.map((r) => [r.hash.toString('latin1'), Number(r.erased_at_ms)]));
  for (const r of found.rows) suppressions.note(projectId, r.hash, Number(r.erased_at_ms));
  // Keys this call stored; of two events of the batch under one key, the first was stored (the
  // sort in writeEvents is stable, and ON CONFLICT skips the later one).
  const written = new Set(inserted.map((k) => k.toString('latin1')));
  const receivedMs = new Map<string, number>();
  let events = 0;
  let ours = 0;
  const keys: Buffer[] = [];
  const persons: string[] = [];
  const atMs: number[] = [];
  const atIso: string[] = [];
  const byOwnTime: boolean[] = [];
  batch.events.forEach((e, i) => {
    const key = batch.keys.subarray(i * 16, i * 16 + 16);
    const stored = written.delete(key.toString('latin1'));
    const at = erasedAt.get(hashes.get(e.distinctId)!.toString('latin1'));
    if (at === undefined) return;
    let received = receivedMs.get(e.receivedAt);
    if (received === undefined) receivedMs.set(e.receivedAt, (received = parseIsoMs(e.receivedAt)));
    if (!(e.eventMs <= at || received <= at)) return;
    events++;
    if (stored) ours++;
    // A duplicate too: the row under its key, if it is this person's and erased by the rule,
    // is what the erasure's second deletion would take (an earlier unswept write).
    keys.push(key);
    persons.push(e.distinctId);
    atMs.push(at);
    atIso.push(new Date(at).toISOString());
    // Stored at its receive time, after the erasure: the row does not keep the time it happened,
    // so its key and person are what find it.
    byOwnTime.push(e.tsMs > at && received > at);
  });
  if (keys.length > 0) {
    // Matched on what is stored, as the erasure matches, not on the batch's copy.
    // Their keys are kept as the erasure keeps those it deletes: a resend of one of them,
    // which the server may date after the erasure, is then erased at ingest, not stored.
    await connections.query(
      `WITH l AS (SELECT * FROM unnest($2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::boolean[]) AS l(key, distinct_id, at_ms, at_iso, own)),
         gone AS (
           DELETE FROM events e USING l
           WHERE e.project_pk = $1 AND e.key = l.key AND e.distinct_id = l.distinct_id
             AND (e.ts <= l.at_ms OR e.received_at <= l.at_iso OR l.own)
         )
         INSERT INTO erased_keys (project_pk, key, erased_at_ms)
         SELECT $1, key, max(at_ms) FROM l GROUP BY key
         ON CONFLICT (project_pk, key) DO UPDATE SET erased_at_ms = greatest(erased_keys.erased_at_ms, EXCLUDED.erased_at_ms)`,
      [pk, keys, persons, atMs, atIso, byOwnTime],
    );
  }
  return { events, inserted: ours };
}
