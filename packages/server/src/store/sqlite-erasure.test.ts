import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSqlite, onOtherConnection, tempDir } from './sqlite.test-helpers.js';
import type { SqliteStore } from './sqlite.js';
import { ev } from './store.contract.js';
import type { IngestEvent } from './store.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

describe('SqliteStore erasure', () => {
  let dir: string;
  let store: SqliteStore | null = null;

  afterEach(async () => {
    vi.restoreAllMocks();
    await store?.close();
    store = null;
    rmSync(dir, { recursive: true, force: true });
  });

  /** `n` events of alice, oldest first; the last one is named `last`. */
  async function aliceWith(n: number, last = 'page_view'): Promise<string> {
    dir = tempDir();
    store = await openSqlite({ dataDir: dir });
    const p = await store.createProject('p');
    const at = (i: number): string => new Date(T0 + i).toISOString();
    const events: IngestEvent[] = Array.from({ length: n }, (_, i) =>
      ev({ distinctId: 'alice', timestamp: at(i), event: i === n - 1 ? last : 'page_view' }),
    );
    for (let i = 0; i < n; i += 1000) await store.insertEvents(p.id, events.slice(i, i + 1000));
    await store.drain();
    return p.id;
  }

  function aliceLeft(): number {
    const db = new Database(join(dir, 'homing.db'), { readonly: true });
    try {
      return db.prepare("SELECT count(*) FROM events WHERE distinct_id = 'alice'").pluck().get() as number;
    } finally {
      db.close();
    }
  }

  it("an erasure overwrites what it deletes: the person's data is not left in homing.db's free space", async () => {
    dir = tempDir();
    store = await openSqlite({ dataDir: dir });
    const p = await store.createProject('p');
    const secret = 'ALICE-MEDICAL-SECRET';
    await store.insertEvents(
      p.id,
      Array.from({ length: 200 }, (_, i) =>
        ev({ distinctId: 'alice', properties: { note: `${secret}-${i}` } }),
      ),
    );
    await store.insertEvents(p.id, [ev({ distinctId: 'bob', properties: { note: 'bob-kept' } })]);
    await store.drain();
    expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(200);
    await store.close();
    store = null;
    // Closed: the WAL is checkpointed into homing.db and removed.
    const bytes = readFileSync(join(dir, 'homing.db'));
    expect(bytes.includes('bob-kept')).toBe(true);
    expect(bytes.includes(secret)).toBe(false);
  });

  // 5 calls of 40: the person's rows free whole log pages; 1 of 1 and 3 of 5: they share leaf
  // pages with rows that stay, and no page is freed (the scrub's VACUUM then has nothing to do).
  it.each([
    [5, 40],
    [1, 1],
    [3, 5],
  ])(
    "once an erasure is done, the person's data is in none of the running store's files: the ingest log and both WALs are scrubbed (%i calls of %i)",
    async (calls, perCall) => {
      dir = tempDir();
      let scrubbed = (): void => {};
      const scrub = new Promise<void>((resolve) => (scrubbed = resolve));
      store = await openSqlite({
        dataDir: dir,
        onNotice: (n) => {
          if (n.message.startsWith('erased data scrubbed')) scrubbed();
        },
      });
      const p = await store.createProject('p');
      const secret = 'ALICE-MEDICAL-SECRET';
      // Each call is a log row of its own, deleted after expansion (far below logVacuumFreeMiB: an
      // idle store would keep what it frees).
      for (let b = 0; b < calls; b++) {
        await store.insertEvents(
          p.id,
          Array.from({ length: perCall }, (_, i) =>
            ev({ distinctId: 'alice', properties: { note: `${secret}-${b}-${i}` } }),
          ),
        );
      }
      await store.insertEvents(p.id, [ev({ distinctId: 'bob', properties: { note: 'bob-kept' } })]);
      await store.drain();
      expect(await store.erasePerson(p.id, 'alice', 'admin')).toBe(calls * perCall);
      // A bounded wait: a store that never scrubs fails below, it does not hang the suite.
      await Promise.race([scrub, new Promise((r) => setTimeout(r, 15_000))]);
      const files = ['homing.db', 'homing.db-wal', 'ingest-log.db', 'ingest-log.db-wal'];
      const holding = files.filter(
        (f) => existsSync(join(dir, f)) && readFileSync(join(dir, f)).includes(secret),
      );
      expect(holding).toEqual([]);
      // Still open and serving: bob's event is there and a new one goes in.
      const bob = await store.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 });
      expect(bob.map((e) => e.properties)).toEqual([{ note: 'bob-kept' }]);
      expect((await store.insertEvents(p.id, [ev({ distinctId: 'carol' })])).accepted).toBe(1);
    },
  );

  it('an erasure stopped by a failing batch has logged every event it deleted', async () => {
    const projectId = await aliceWith(6000, 'poison');
    // The last event (newest, deleted last) cannot be deleted: a later batch fails.
    onOtherConnection(
      dir,
      `CREATE TRIGGER poison BEFORE DELETE ON events WHEN OLD.event = 'poison'
       BEGIN SELECT RAISE(ABORT, 'injected fault'); END`,
    );
    await expect(store!.erasePerson(projectId, 'alice', 'admin')).rejects.toThrow(/injected fault/);
    const gone = 6000 - aliceLeft();
    expect(gone).toBeGreaterThan(0);
    const log = await store!.listErasures({ projectId, limit: 10 });
    expect(log.map((e) => e.deletedCount)).toEqual([gone]);
    // A retry logs what was left, so the log's sum is every event deleted.
    onOtherConnection(dir, 'DROP TRIGGER poison');
    expect(await store!.erasePerson(projectId, 'alice', 'admin')).toBe(6000 - gone);
    const after = await store!.listErasures({ projectId, limit: 10 });
    expect(after.reduce((n, e) => n + e.deletedCount, 0)).toBe(6000);
    expect(aliceLeft()).toBe(0);
  });

  /** The erasure log entry's count after each of the erasure's transactions. */
  function traceLogCounts(): () => number[] {
    onOtherConnection(
      dir,
      `CREATE TABLE trace (n INTEGER);
       CREATE TRIGGER trace_insert AFTER INSERT ON erasures BEGIN INSERT INTO trace VALUES (NEW.deleted_count); END;
       CREATE TRIGGER trace_update AFTER UPDATE ON erasures BEGIN INSERT INTO trace VALUES (NEW.deleted_count); END;`,
    );
    return () => {
      const db = new Database(join(dir, 'homing.db'), { readonly: true });
      try {
        return db.prepare('SELECT n FROM trace ORDER BY rowid').pluck().all() as number[];
      } finally {
        db.close();
      }
    };
  }

  /** Makes every batch look as if it took `ms` (the clock advances `ms` per reading). */
  function batchesTake(ms: number): void {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => (now += ms));
  }

  it('sizes its transactions by time: it starts small and grows while batches are quick', async () => {
    const projectId = await aliceWith(1000);
    const trace = traceLogCounts();
    batchesTake(1);
    expect(await store!.erasePerson(projectId, 'alice', 'admin')).toBe(1000);
    // 50, then twice as many each time (the most it grows at once), the rest in the last.
    expect(trace()).toEqual([50, 150, 350, 750, 1000]);
  });

  it('keeps its transactions small while batches are slow', async () => {
    const projectId = await aliceWith(300);
    const trace = traceLogCounts();
    batchesTake(200);
    expect(await store!.erasePerson(projectId, 'alice', 'admin')).toBe(300);
    expect(trace()).toEqual([50, 100, 150, 200, 250, 300]);
  });
});
