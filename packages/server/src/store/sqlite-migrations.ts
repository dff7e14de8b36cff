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

export const SQLITE_MIGRATIONS: readonly Migration[] = [
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
];
