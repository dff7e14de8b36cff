import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_FILE } from './sqlite-log-file.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';

const BACKLOG_EVENTS = 20_000;

/** A backlog as a stopped server leaves it: log rows of 100 events, none expanded. */
function writeBacklog(dir: string): void {
  const db = new Database(join(dir, LOG_FILE));
  const insert = db.prepare('INSERT INTO ingest_log (project_pk, n, keys, payload) VALUES (1, ?, ?, ?)');
  // A leading NUL, then 7 NUL-separated fields per event (sqlite-ingest-log.ts); the empty
  // uuid is given back by the key.
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
    for (let i = 0; i < BACKLOG_EVENTS / 100; i++) insert.run(100, randomBytes(1600), event.repeat(100));
  })();
  db.close();
}

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
    writeBacklog(dir);
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
