import { readLogFile } from './sqlite-log-file.js';
import type Database from 'better-sqlite3';

/**
 * SQLite schema, one entry per version. Never edit an applied entry: add a new one.
 *
 * Events live in a rowid table (new rows append at the end of the file) with a unique index on
 * (project, 16-byte key). The cheap append-only log that insertEvents commits to before the
 * expander moves its rows into `events` lived in `ingest_log` here up to version 2; from version
 * 3 it is a file of its own (see sqlite-ingest-log.ts and sqlite-log-file.ts).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface SqliteMigration extends Migration {
  /**
   * Run after `sql`, in the same transaction, with the path of the ingest log's file (which
   * a transaction on homing.db cannot read).
   */
  then?: (db: Database.Database, logPath: string) => void;
}

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'projects, events, ingest log, erasure log',
    sql: `
      CREATE TABLE projects (
        pk INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        write_key TEXT NOT NULL,
        admin_key TEXT NOT NULL,
        write_key_hash BLOB NOT NULL UNIQUE,
        admin_key_hash BLOB NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      );
      CREATE TABLE events (
        project_pk INTEGER NOT NULL,
        key BLOB NOT NULL,
        uuid_text TEXT,
        event TEXT NOT NULL,
        distinct_id TEXT NOT NULL,
        ts INTEGER NOT NULL,
        original_ts TEXT,
        received_at TEXT NOT NULL,
        properties TEXT NOT NULL
      );
      CREATE UNIQUE INDEX events_key ON events (project_pk, key);
      CREATE INDEX events_ts ON events (project_pk, ts);
      CREATE INDEX events_person ON events (project_pk, distinct_id, ts);
      CREATE INDEX events_name ON events (project_pk, event, ts);
      CREATE TABLE ingest_log (
        id INTEGER PRIMARY KEY,
        project_pk INTEGER NOT NULL,
        n INTEGER NOT NULL,
        keys BLOB NOT NULL,
        payload TEXT NOT NULL
      );
      CREATE TABLE erasures (
        id INTEGER PRIMARY KEY,
        project_pk INTEGER NOT NULL,
        distinct_id TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        deleted_count INTEGER NOT NULL,
        erased_at TEXT NOT NULL
      );
      CREATE INDEX erasures_project ON erasures (project_pk, id);
    `,
  },
  {
    version: 2,
    name: 'ingest log ids never reused',
    // Without AUTOINCREMENT, SQLite hands out max(id)+1, so once the expander empties the log an
    // id can come back, and another connection that had already seen that id would miss the
    // new row's keys when counting duplicates. AUTOINCREMENT ids only ever grow.
    sql: `
      CREATE TABLE ingest_log_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_pk INTEGER NOT NULL,
        n INTEGER NOT NULL,
        keys BLOB NOT NULL,
        payload TEXT NOT NULL
      );
      INSERT INTO ingest_log_v2 (id, project_pk, n, keys, payload) SELECT id, project_pk, n, keys, payload FROM ingest_log;
      DROP TABLE ingest_log;
      ALTER TABLE ingest_log_v2 RENAME TO ingest_log;
    `,
  },
  {
    version: 3,
    name: 'ingest log in its own file, expanded id recorded here',
    // The log moved to ingest-log.db so acknowledging never waits for this file's write lock,
    // which the expander holds most of the time under load. Across two files a transaction is
    // not atomic in WAL mode, so the last log id expanded is recorded here, with the events;
    // rows at or below it are skipped if a crash left them in the log. Rows still in the old
    // table are copied to the new file (same ids) when the store opens, then deleted here.
    sql: `
      CREATE TABLE ingest_progress (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        expanded_through INTEGER NOT NULL
      );
      INSERT INTO ingest_progress (id, expanded_through) VALUES (1, 0);
    `,
  },
  {
    version: 4,
    name: 'suppression entries that keep erased persons erased',
    // One row per erasure, never updated (a reader loads ids above the last it saw). `hash` is
    // the SHA-256 of the project id and distinct id (suppressions.ts), not the id itself.
    sql: `
      CREATE TABLE suppressions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_pk INTEGER NOT NULL,
        hash BLOB NOT NULL,
        erased_at_ms INTEGER NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: 'keys of erased events, so a resend of one stays erased',
    // One row per event an erasure deleted: its 16-byte key (a content hash or the client's
    // uuid, no content) and when. A resend whose timestamp the server supplied lands after the
    // erasure time, so the suppression entry alone let it be stored again. Kept for good, as
    // the suppression entry is: such a resend is new whenever it comes.
    sql: `
      CREATE TABLE erased_keys (
        project_pk INTEGER NOT NULL,
        key BLOB NOT NULL,
        erased_at_ms INTEGER NOT NULL,
        PRIMARY KEY (project_pk, key)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 6,
    name: 'project pks never reused; projects removed, and a version of their keys',
    // Without AUTOINCREMENT SQLite handed a new project max(pk)+1, so after a project row was
    // deleted by hand the next project got its pk and with it every row still naming it: its
    // events, erasure log, suppression entries, and events in the ingest log that the expander
    // then moved in. The sequence starts above every pk any table names (the log file's too,
    // below). `removed_at`: a removal under way (keys find nothing, ingest for it is dropped;
    // the row goes once its data is deleted). `keys_version` changes with every change of
    // keys made through a store: servers' key caches look at it (see Store.keysVersion).
    sql: `
      CREATE TABLE projects_v6 (
        pk INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        write_key TEXT NOT NULL,
        admin_key TEXT NOT NULL,
        write_key_hash BLOB NOT NULL UNIQUE,
        admin_key_hash BLOB NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        removed_at TEXT
      );
      INSERT INTO projects_v6 (pk, id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at)
        SELECT pk, id, name, write_key, admin_key, write_key_hash, admin_key_hash, created_at FROM projects ORDER BY pk;
      DROP TABLE projects;
      ALTER TABLE projects_v6 RENAME TO projects;
      DELETE FROM sqlite_sequence WHERE name = 'projects';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'projects', max(
        coalesce((SELECT max(pk) FROM projects), 0),
        coalesce((SELECT max(project_pk) FROM events), 0),
        coalesce((SELECT max(project_pk) FROM erasures), 0),
        coalesce((SELECT max(project_pk) FROM suppressions), 0),
        coalesce((SELECT max(project_pk) FROM erased_keys), 0),
        coalesce((SELECT max(project_pk) FROM ingest_log), 0)
      );
      CREATE TABLE keys_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
      );
      INSERT INTO keys_version (id, version) VALUES (1, 0);
    `,
    then: (db, logPath) => {
      const inLog = highestProjectPkIn(logPath);
      if (inLog > 0)
        db.prepare("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'projects'").run(inLog);
    },
  },
  {
    version: 7,
    name: 'ingest log rows damaged on disk, kept for salvage',
    // The expander sets aside a log row whose payload does not decode into its events (damage on
    // disk), in the transaction that moves past it: kept whole here (its id, project, keys and
    // payload), since the log file deletes what is behind the expanded id.
    sql: `
      CREATE TABLE damaged_log_rows (
        id INTEGER PRIMARY KEY,
        project_pk INTEGER NOT NULL,
        n INTEGER NOT NULL,
        keys BLOB NOT NULL,
        payload TEXT NOT NULL,
        found_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: 'the scrub an erasure leaves due, kept across a restart',
    // The highest ingest log id whose rows may hold an erased person's bytes and are not yet
    // scrubbed from the files (0: none due). Set in each of the erasure's deleting transactions and
    // cleared by the expander once the scrub is done (sqlite-expander-worker.ts): held only in
    // memory, a server stopped (SIGKILL, crash, a close out of budget) between the erasure's answer
    // and the scrub left the bytes in the log's free pages and the WALs, and nothing scrubbed them
    // at the next start.
    sql: `
      ALTER TABLE ingest_progress ADD COLUMN scrub_through INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

/**
 * The highest project pk the ingest log file's rows name (0 without a log file). Read once, at
 * the migration: the rows of a project deleted by hand may still wait there to be expanded.
 */
function highestProjectPkIn(logPath: string): number {
  return readLogFile(
    logPath,
    0,
    (log) => (log.prepare('SELECT max(project_pk) FROM ingest_log').pluck().get() as number | null) ?? 0,
  );
}
