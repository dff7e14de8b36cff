import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LOG_FILE } from './sqlite-log-file.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { StoreHarness } from './store.contract.js';

/**
 * A backlog as a stopped server leaves it in `dataDir`'s ingest log: `events` events in rows of
 * 100 for project pk 1, none expanded. A leading NUL, then 7 NUL-separated fields per event
 * (sqlite-ingest-log.ts); the empty uuid is given back by the key.
 */
export function writeUnexpandedBacklog(dataDir: string, events: number): void {
  const db = new Database(join(dataDir, LOG_FILE));
  const insert = db.prepare('INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (1, ?, ?, ?)');
  const event = [
    '',
    '',
    'e',
    'u',
    String(Date.parse('2026-01-01T00:00:00Z')),
    '',
    '2026-01-01T00:00:00.000Z',
    '{}',
  ].join('\u0000');
  db.transaction(() => {
    for (let i = 0; i < events / 100; i++) insert.run(100, randomBytes(1600), event.repeat(100));
  })();
  db.close();
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'homing-sqlite-'));
}

/** The error a store on `dataDir` fails its migrate() with (closing the store); throws if it opened. */
export async function migrateFailure(dataDir: string): Promise<Error & { kind?: string }> {
  const store = new SqliteStore({ dataDir });
  const err = await store.migrate().then(
    () => null,
    (e: Error) => e,
  );
  await store.close();
  if (err === null) throw new Error(`a store on ${dataDir} migrated, where it was expected to fail`);
  return err;
}

export async function openSqlite(options: SqliteStoreOptions): Promise<SqliteStore> {
  const store = new SqliteStore(options);
  await store.migrate();
  return store;
}

/** Runs `sql` on a connection of its own, as another process would (on homing.db, or `file`). */
export function onOtherConnection(dataDir: string, sql: string, file = 'homing.db'): void {
  const db = new Database(join(dataDir, file));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
}

export async function sqliteHarness(options: Partial<SqliteStoreOptions> = {}): Promise<StoreHarness> {
  const dataDir = tempDir();
  const opened: SqliteStore[] = [];
  const open = async (): Promise<SqliteStore> => {
    const s = await openSqlite({ ...options, dataDir });
    opened.push(s);
    return s;
  };
  return {
    store: await open(),
    openAnother: open,
    async injectPoisonFault() {
      onOtherConnection(
        dataDir,
        `CREATE TRIGGER poison BEFORE INSERT ON ingest_log WHEN instr(NEW.payload, char(0) || 'poison' || char(0)) > 0
         BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
        LOG_FILE,
      );
      return async () => onOtherConnection(dataDir, 'DROP TRIGGER poison', LOG_FILE);
    },
    async dispose() {
      for (const s of opened) await s.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
