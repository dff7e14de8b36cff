import type Database from 'better-sqlite3';

/** What `PRAGMA wal_checkpoint` answers: whether it was blocked, and the WAL's frames. */
interface CheckpointRow {
  busy: number;
  log: number;
  checkpointed: number;
}

/**
 * Copies a removed (or replaced) `<database>-wal` into its database at once, with a TRUNCATE
 * checkpoint on this process's connection, and answers the line to log. Until the process ends
 * its connections still hold the unlinked WAL, and with it every commit since the last
 * checkpoint: a clean stop copies them in, but a kill -9, an OOM kill or a power cut before an
 * operator acts lost them all (the re-probe: 500 of 550 acknowledged events). After this, a
 * crash loses nothing acknowledged before it; the store goes on refusing ingest as before, and
 * what its expander writes later into the removed WAL is still in the ingest log, which is no
 * longer trimmed. `db` must not be in a transaction; the caller holds its write turn.
 */
export function checkpointRemovedWal(db: Database.Database, database: string): string {
  const wal = `${database}-wal`;
  if (!db.open) return `${wal}: not copied into ${database}, the store was closing (which copies it)`;
  let row: CheckpointRow | undefined;
  try {
    row = (db.pragma('wal_checkpoint(TRUNCATE)') as CheckpointRow[])[0];
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return (
      `${wal} could not be copied into ${database} (checkpoint failed: ${typeof code === 'string' ? code : (err as Error).name}): ` +
      'what it holds is lost at a crash; stop homing serve cleanly (SIGTERM, not kill -9), which copies it'
    );
  }
  if (row !== undefined && row.busy === 0) {
    return (
      `What ${wal} held is now copied into ${database} (a checkpoint): a crash from here on loses ` +
      'no event acknowledged before it; ingest stays refused until the restart'
    );
  }
  // A reader on another connection (an expander chunk, another process) held frames back.
  return (
    `${wal} was copied into ${database} only in part (checkpoint blocked by another connection: ` +
    `${row?.checkpointed ?? 0} of ${row?.log ?? '?'} frames): stop homing serve cleanly (SIGTERM, not kill -9), ` +
    'which copies the rest'
  );
}
