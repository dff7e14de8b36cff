import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LOG_FILE } from './sqlite-log-file.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { StoreHarness } from './store.contract.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'homing-sqlite-'));
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
