import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_FILE } from './sqlite-log-file.js';
import { openSqlite, tempDir, writeUnexpandedBacklog } from './sqlite.test-helpers.js';

const BACKLOG_EVENTS = 20_000;

function unexpanded(dir: string): number {
  const db = new Database(join(dir, 'homing.db'), { readonly: true });
  const through = db
    .prepare('SELECT expanded_through FROM ingest_progress WHERE id = 1')
    .pluck()
    .get() as number;
  db.close();
  const log = new Database(join(dir, LOG_FILE), { readonly: true });
  const n = log
    .prepare('SELECT coalesce(sum(n), 0) FROM ingest_log WHERE id > ?')
    .pluck()
    .get(through) as number;
  log.close();
  return n;
}

describe('SqliteStore close with a backlog in the ingest log', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('cuts the chunk to what fits the close budget, and reports the events left for the next start', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const first = await openSqlite({ dataDir: dir });
    await first.createProject('p');
    await first.close();
    writeUnexpandedBacklog(dir, BACKLOG_EVENTS);
    let reported: number | undefined;
    // Closed at once: the stop reaches the worker before its first chunk, which would otherwise
    // take the whole backlog (the default chunk is 80 000 events) whatever the budget.
    const store = await openSqlite({
      dataDir: dir,
      closeExpandBudgetMs: 1,
      onClosedWithBacklog: (n) => (reported = n),
    });
    await store.close();
    const left = unexpanded(dir);
    expect(left).toBeGreaterThan(0);
    expect(reported).toBe(left);
    // The next start expands what was left.
    const again = await openSqlite({ dataDir: dir });
    await again.drain();
    await again.close();
    expect(unexpanded(dir)).toBe(0);
  });

  it('reports nothing when the budget was enough', async () => {
    const dir = tempDir();
    dirs.push(dir);
    let reported: number | undefined;
    const store = await openSqlite({ dataDir: dir, onClosedWithBacklog: (n) => (reported = n) });
    await store.close();
    expect(reported).toBeUndefined();
  });
});
