import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SCRUBBED_MESSAGE } from './sqlite-close-scrub.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore } from './sqlite.js';
import type { SqliteStoreOptions } from './sqlite-options.js';
import { ev } from './store.contract.js';

const SECRET = 'ALICE-MEDICAL-SECRET';
const FILES = ['homing.db', 'homing.db-wal', LOG_FILE, `${LOG_FILE}-wal`];

/** The store's files that hold `text`. */
function holding(dir: string, text: string): string[] {
  return FILES.filter((f) => existsSync(join(dir, f)) && readFileSync(join(dir, f)).includes(text));
}

/**
 * The scrub an erasure leaves due is recorded in homing.db (SQLite migration 8), so that a store
 * stopped before its expander scrubbed still does it: at close, or at the next start (that case,
 * with a SIGKILL, is in test/erasureScrubAfterKill.test.ts).
 */
describe('SqliteStore: the scrub an erasure leaves due', () => {
  let dir: string;
  let store: SqliteStore | null = null;
  afterEach(async () => {
    await store?.close();
    store = null;
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (notices: string[], options: Partial<SqliteStoreOptions> = {}): Promise<SqliteStore> =>
    openSqlite({
      dataDir: dir,
      onNotice: (n) => notices.push(n.message),
      // Busy errors of the locks below are expected.
      onBackgroundError: () => {},
      ...options,
    });

  it("is done by close() when the expander had not done it: the files hold none of the person's data", async () => {
    dir = tempDir();
    const notices: string[] = [];
    // Nothing wakes the worker but the store itself: no poll between the lock's release and close.
    store = await open(notices, { busyTimeoutMs: 100, expandRetryMs: 20, expandPollMs: 600_000 });
    const p = await store.createProject('p');
    // The expander can expand nothing while another connection holds homing.db's write lock, so
    // no log row is deleted before the log's write lock is taken below.
    const mainLock = new Database(join(dir, 'homing.db'));
    const logLock = new Database(join(dir, LOG_FILE));
    try {
      mainLock.exec('BEGIN IMMEDIATE');
      // Each call a log row of its own: the person's rows free whole pages once deleted.
      for (let b = 0; b < 5; b++) {
        await store.insertEvents(
          p.id,
          Array.from({ length: 40 }, (_, i) =>
            ev({ distinctId: 'alice', properties: { note: `${SECRET}-${b}-${i}` } }),
          ),
        );
      }
      await store.insertEvents(p.id, [ev({ distinctId: 'bob', properties: { note: 'bob-kept' } })]);
      // The store cannot delete expanded log rows while another connection holds the log's write
      // lock: the scrub waits for those rows to be gone, so the expander cannot do it.
      logLock.exec('BEGIN IMMEDIATE');
      mainLock.exec('ROLLBACK');
      expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(200);
    } finally {
      if (mainLock.inTransaction) mainLock.exec('ROLLBACK');
      mainLock.close();
      if (logLock.inTransaction) logLock.exec('ROLLBACK');
      logLock.close();
    }
    // In the same turn of the event loop as the release: no log row was deleted before close.
    const closing = store.close();
    store = null;
    await closing;
    expect(notices).toContain(SCRUBBED_MESSAGE);
    expect(holding(dir, SECRET)).toEqual([]);
    // Nothing else was lost, and the next start has no scrub left to do.
    const again: string[] = [];
    store = await open(again);
    const bob = await store.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 });
    expect(bob.map((e) => e.properties)).toEqual([{ note: 'bob-kept' }]);
    await store.close();
    store = null;
    expect(again).not.toContain(SCRUBBED_MESSAGE);
  });

  it('is done once: a restart after the scrub does not scrub again', async () => {
    dir = tempDir();
    const notices: string[] = [];
    store = await open(notices);
    const p = await store.createProject('p');
    await store.insertEvents(p.id, [ev({ distinctId: 'alice', properties: { note: SECRET } })]);
    await store.drain();
    expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(1);
    await vi.waitFor(() => expect(notices).toContain(SCRUBBED_MESSAGE), { timeout: 15_000, interval: 20 });
    expect(notices.filter((m) => m === SCRUBBED_MESSAGE)).toHaveLength(1);
    await store.close();
    store = null;
    // Two more starts, each with an idle moment (an event expanded and read) before it closes.
    for (let i = 0; i < 2; i++) {
      store = await open(notices);
      await store.insertEvents(p.id, [ev({ distinctId: 'bob' })]);
      expect(await store.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 })).toHaveLength(i + 1);
      await store.close();
      store = null;
    }
    expect(notices.filter((m) => m === SCRUBBED_MESSAGE)).toHaveLength(1);
    const db = new Database(join(dir, 'homing.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT scrub_through FROM ingest_progress').pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });
  // `homing projects remove` (a store opened for projects only, no expander) and a removal in a
  // running store: either way the project's events were in the log's free pages (trimmed rows,
  // kept below logVacuumFreeMiB) and the WALs, and only a scrub recorded as due takes them out.
  it.each([['projects only, then a restart'], ['in the running store']])(
    "a project's removal leaves none of its events in the store's files: %s",
    async (how) => {
      dir = tempDir();
      const notices: string[] = [];
      store = await open(notices);
      const p = await store.createProject('p');
      const q = await store.createProject('q');
      for (let b = 0; b < 5; b++) {
        await store.insertEvents(
          p.id,
          Array.from({ length: 40 }, (_, i) =>
            ev({ distinctId: 'alice', properties: { note: `${SECRET}-${b}-${i}` } }),
          ),
        );
      }
      await store.insertEvents(q.id, [ev({ distinctId: 'bob', properties: { note: 'bob-kept' } })]);
      await store.drain();
      if (how.startsWith('projects only')) {
        await store.close();
        // What the test would find without a scrub: the trimmed rows' free pages hold the events.
        expect(holding(dir, SECRET)).not.toEqual([]);
        store = await open([], { projectsOnly: true });
        expect((await store.removeProject(p.id)).events).toBe(200);
        await store.close();
        store = await open(notices);
      } else expect((await store.removeProject(p.id)).events).toBe(200);
      // A bounded wait: a store that never scrubs fails below, it does not hang the suite.
      await vi
        .waitFor(() => expect(notices).toContain(SCRUBBED_MESSAGE), { timeout: 10_000, interval: 20 })
        .catch(() => {});
      expect(holding(dir, SECRET)).toEqual([]);
      const bob = await store.queryEvents({ projectId: q.id, distinctId: 'bob', limit: 10 });
      expect(bob.map((e) => e.properties)).toEqual([{ note: 'bob-kept' }]);
    },
  );
});
