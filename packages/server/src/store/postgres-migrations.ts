import type { Migration } from './sqlite-migrations.js';

/**
 * PostgreSQL schema, one entry per version. Never edit an applied entry: add a new one.
 * `properties` is `json`, not `jsonb`: jsonb refuses the \u0000 escape that valid events carry.
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'projects, events, erasure log',
    sql: `
      CREATE TABLE projects (
        pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL UNIQUE,
        name text NOT NULL,
        write_key text NOT NULL,
        admin_key text NOT NULL,
        write_key_hash bytea NOT NULL UNIQUE,
        admin_key_hash bytea NOT NULL UNIQUE,
        created_at text NOT NULL
      );
      CREATE TABLE events (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        project_pk bigint NOT NULL,
        key bytea NOT NULL,
        uuid_text text,
        event text NOT NULL,
        distinct_id text NOT NULL,
        ts bigint NOT NULL,
        original_ts text,
        received_at text NOT NULL,
        properties json NOT NULL,
        PRIMARY KEY (project_pk, key)
      );
      CREATE INDEX events_ts ON events (project_pk, ts);
      CREATE INDEX events_person ON events (project_pk, distinct_id, ts, seq);
      CREATE INDEX events_name ON events (project_pk, event, ts);
      CREATE TABLE erasures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_pk bigint NOT NULL,
        distinct_id text NOT NULL,
        requested_by text NOT NULL,
        deleted_count integer NOT NULL,
        erased_at text NOT NULL
      );
      CREATE INDEX erasures_project ON erasures (project_pk, id);
    `,
  },
  {
    version: 2,
    name: 'suppression entries that keep erased persons erased',
    // One row per erasure, never updated (a reader loads ids above the last it saw). `hash` is
    // the SHA-256 of the project id and distinct id (suppressions.ts), not the id itself.
    sql: `
      CREATE TABLE suppressions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        project_pk bigint NOT NULL,
        hash bytea NOT NULL,
        erased_at_ms bigint NOT NULL
      );
    `,
  },
  {
    version: 3,
    name: 'second deletions kept in the erasure log; suppression reads by time',
    // `sweep_due_ms`: when the erasure's second deletion is due, NULL once done; kept here, not
    // in the erasing process's memory, so any process runs it (one stopped soon after erasing
    // would otherwise never run it). The suppression index lets a refresh read again the entries
    // of the last minute, which commit out of id order.
    sql: `
      ALTER TABLE erasures ADD COLUMN erased_at_ms bigint;
      ALTER TABLE erasures ADD COLUMN sweep_due_ms bigint;
      CREATE INDEX erasures_sweep_due ON erasures (sweep_due_ms) WHERE sweep_due_ms IS NOT NULL;
      CREATE INDEX suppressions_erased_at ON suppressions (erased_at_ms);
    `,
  },
  {
    version: 4,
    name: 'keys of erased events, so a resend of one stays erased',
    // One row per event an erasure (or its second deletion) deleted: its 16-byte key (a content
    // hash or the client's uuid, no content) and when. A resend whose timestamp the server
    // supplied lands after the erasure time, so the suppression entry alone let it be stored
    // again. Kept for good, as the
    // suppression entry is: such a resend is new whenever it comes.
    sql: `
      CREATE TABLE erased_keys (
        project_pk bigint NOT NULL,
        key bytea NOT NULL,
        erased_at_ms bigint NOT NULL,
        PRIMARY KEY (project_pk, key)
      );
    `,
  },
  {
    version: 5,
    name: 'projects removed, and a version of their keys',
    // `removed_at`: a removal under way (keys find nothing, and a batch insert, which locks its
    // project's row FOR SHARE, stores nothing for it; the row goes once its data is deleted).
    // `keys_version` changes with every change of keys made through a store: servers' key
    // caches look at it (see Store.keysVersion). Identity pks are never handed out twice.
    sql: `
      ALTER TABLE projects ADD COLUMN removed_at text;
      CREATE TABLE keys_version (
        id integer PRIMARY KEY CHECK (id = 1),
        version bigint NOT NULL
      );
      INSERT INTO keys_version (id, version) VALUES (1, 0);
    `,
  },
];
