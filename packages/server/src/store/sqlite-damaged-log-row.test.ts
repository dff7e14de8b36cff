import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { StoreNotice } from './sqlite-backlog-notice.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { onOtherConnection, openSqlite, tempDir, writeUnexpandedBacklog } from './sqlite.test-helpers.js';

function eventsStored(dir: string): number {
  const db = new Database(join(dir, 'homing.db'), { readonly: true });
  try {
    return db.prepare('SELECT count(*) FROM events').pluck().get() as number;
  } finally {
    db.close();
  }
}

describe('SqliteStore: a log row damaged on disk', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it.each([
    [
      'a NUL byte written into its payload',
      'payload = substr(payload, 1, 40) || char(0) || substr(payload, 42)',
    ],
    ['a time that is no number', "payload = replace(payload, '1767225600000', '17672x5600000')"],
    ['a payload cut short', 'payload = substr(payload, 1, length(payload) / 2)'],
    ['keys of another length than its events', 'keys = substr(keys, 1, 100)'],
    ['an old-format payload that is no JSON', 'payload = \'[["u","e"\''],
    ['an old-format payload of the wrong shape', "payload = '[[1,2,3,4,5,6,7]]'"],
  ])('is skipped and told (%s); the rows before and after it are stored', async (_label, damage) => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await openSqlite({ dataDir: dir });
    await first.createProject('p');
    await first.close();
    writeUnexpandedBacklog(dir, 500);
    onOtherConnection(
      dir,
      `UPDATE ingest_log SET ${damage} WHERE id = (SELECT min(id) + 2 FROM ingest_log)`,
      LOG_FILE,
    );
    const notices: StoreNotice[] = [];
    const errors: unknown[] = [];
    const store = await openSqlite({
      dataDir: dir,
      onNotice: (n) => notices.push(n),
      onBackgroundError: (e) => errors.push(e),
    });
    await store.drain();
    await store.close();
    expect(eventsStored(dir)).toBe(400);
    const damaged = notices.filter((n) => n.level === 'error');
    expect(damaged).toHaveLength(1);
    expect(damaged[0]!.message).toContain('is damaged on disk');
    expect(damaged[0]!.fields).toMatchObject({ events: 100, projectPk: 1 });
    expect(errors).toEqual([]);
    // Kept whole for salvage, with the id it had in the log.
    const db = new Database(join(dir, 'homing.db'), { readonly: true });
    const kept = db.prepare('SELECT id, project_pk, n FROM damaged_log_rows').all();
    db.close();
    expect(kept).toEqual([{ id: damaged[0]!.fields['logRow'], project_pk: 1, n: 100 }]);
    // Told once: the row is behind the expanded id, and the log trims it.
    const again = await openSqlite({ dataDir: dir, onNotice: (n) => notices.push(n) });
    await again.drain();
    await again.close();
    expect(notices.filter((n) => n.level === 'error')).toHaveLength(1);
    expect(eventsStored(dir)).toBe(400);
  });
});
