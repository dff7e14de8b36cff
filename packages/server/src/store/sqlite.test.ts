import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { StoreError } from './errors.js';
import { LOG_FILE } from './sqlite-log-file.js';
import { openSqlite, onOtherConnection, sqliteHarness, tempDir } from './sqlite.test-helpers.js';
import { SqliteStore } from './sqlite.js';
import { describeStoreContract, ev } from './store.contract.js';

describeStoreContract('SQLite', () => sqliteHarness());
// The same contract with a tiny expansion chunk and pending bound, so reads, dedup and
// backpressure are exercised while most events still sit in the ingest log.
describeStoreContract('SQLite, small chunks', () =>
  sqliteHarness({ expandChunkEvents: 7, maxPendingEvents: 50 }),
);

describe('SqliteStore', () => {
  it('a retention run waits for the expander once per cutoff, not once per batch', async () => {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    try {
      const p = await store.createProject('p');
      const old = (i: number) => ev({ timestamp: new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString() });
      await store.insertEvents(p.id, [old(1), old(2), old(3)]);
      const expander = (store as unknown as { expander: { catchUp: (upTo: number) => Promise<void> } })
        .expander;
      const waits = vi.spyOn(expander, 'catchUp');
      const cutoff = '2021-01-01T00:00:00.000Z';
      expect(await store.deleteEventsBefore(cutoff, 2)).toBe(2);
      // Ingest goes on between the batches of one run: the next batch does not wait for it.
      await store.insertEvents(p.id, [old(4)]);
      expect(await store.deleteEventsBefore(cutoff, 2)).toBeGreaterThanOrEqual(1);
      expect(waits).toHaveBeenCalledTimes(1);
      // The next run (another cutoff) waits again, and finds what arrived meanwhile.
      const next = '2021-01-01T00:00:01.000Z';
      while ((await store.deleteEventsBefore(next, 2)) > 0);
      expect(waits).toHaveBeenCalledTimes(2);
      expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toEqual([]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrates a data directory of the previous version without touching its data', async () => {
    const dir = tempDir();
    try {
      const before = await openSqlite({ dataDir: dir });
      const p = await before.createProject('p');
      await before.insertEvents(p.id, [ev(), ev({ distinctId: 'bob' })]);
      await before.erasePerson(p.id, 'bob', 'admin');
      await before.close();
      // As the previous version left it: no suppression table, version 3 last.
      onOtherConnection(dir, 'DROP TABLE suppressions; DELETE FROM schema_migrations WHERE version = 4');
      const after = await openSqlite({ dataDir: dir });
      expect(await after.queryEvents({ projectId: p.id, limit: 10 })).toHaveLength(1);
      expect(await after.listErasures({ projectId: p.id, limit: 10 })).toHaveLength(1);
      expect(await after.insertEvents(p.id, [ev({ distinctId: 'bob' })])).toMatchObject({ erased: 0 });
      await after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('honours another connection’s erasure on the same file after suppressionRefreshMs', async () => {
    const dir = tempDir();
    const a = await openSqlite({ dataDir: dir });
    const b = await openSqlite({ dataDir: dir, suppressionRefreshMs: 0 });
    try {
      const p = await a.createProject('p');
      await a.erasePerson(p.id, 'alice', 'admin');
      // `b` looks before every batch, so `a`'s erasure holds there at once.
      expect(await b.insertEvents(p.id, [ev({ distinctId: 'alice' })])).toMatchObject({
        accepted: 0,
        erased: 1,
      });
      await b.erasePerson(p.id, 'bob', 'admin');
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 1000 });
      try {
        expect(await a.insertEvents(p.id, [ev({ distinctId: 'bob' })])).toMatchObject({
          accepted: 0,
          erased: 1,
        });
      } finally {
        vi.useRealTimers();
      }
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names an unusable data directory', () => {
    const dir = tempDir();
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const err = (() => {
      try {
        new SqliteStore({ dataDir: join(file, 'data') });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(StoreError);
    expect(err).toMatchObject({ kind: 'data-dir' });
  });

  it('names a corrupted database file instead of crashing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'homing.db'), Buffer.alloc(8192, 0x5a));
    const open = async (): Promise<unknown> => {
      const s = new SqliteStore({ dataDir: dir });
      await s.migrate();
      return s;
    };
    await expect(open()).rejects.toMatchObject({ kind: 'data-dir' });
  });

  it('validates its options, naming the option', () => {
    expect(() => new SqliteStore({ dataDir: tempDir(), expandChunkEvents: 0 })).toThrow(/expandChunkEvents/);
    expect(() => new SqliteStore({ dataDir: tempDir(), synchronous: 'off' as 'full' })).toThrow(
      /synchronous/,
    );
    expect(() => new SqliteStore({ dataDir: '' })).toThrow(StoreError);
  });

  it('refuses use before migrate()', async () => {
    const s = new SqliteStore({ dataDir: tempDir() });
    await expect(s.createProject('p')).rejects.toMatchObject({ kind: 'migration' });
    await s.close();
  });

  it('keeps logged events through a failing expansion and stores them once when it recovers', async () => {
    const dir = tempDir();
    const errors: unknown[] = [];
    const store = await openSqlite({
      dataDir: dir,
      expandRetryMs: 5,
      onBackgroundError: (e) => errors.push(e),
    });
    const p = await store.createProject('p');
    onOtherConnection(
      dir,
      `CREATE TRIGGER stuck BEFORE INSERT ON events WHEN NEW.event = 'stuck'
       BEGIN SELECT RAISE(ABORT, 'injected expansion fault'); END`,
    );
    const batch = [ev(), ev({ event: 'stuck' }), ev()];
    expect(await store.insertEvents(p.id, batch)).toEqual({ accepted: 3, duplicates: 0, erased: 0 });
    await expect(store.queryEvents({ projectId: p.id, limit: 10 })).rejects.toMatchObject({
      kind: 'storage',
    });
    await vi.waitFor(() => expect(errors.length).toBeGreaterThan(0));
    // Still pending, so still a duplicate.
    expect(await store.insertEvents(p.id, batch)).toEqual({ accepted: 0, duplicates: 3, erased: 0 });
    onOtherConnection(dir, 'DROP TRIGGER stuck');
    const stored = await store.queryEvents({ projectId: p.id, limit: 10 });
    expect(stored.map((e) => e.uuid).sort()).toEqual(batch.map((e) => e.uuid).sort());
    await store.close();
  });

  it('leaves the log for the next start when close() cannot expand it, which expands it', async () => {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir, closeExpandBudgetMs: 0, expandRetryMs: 5 });
    const p = await store.createProject('p');
    // Expansion fails until the trigger is dropped, so the log is still there at close.
    onOtherConnection(
      dir,
      `CREATE TRIGGER stuck BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'injected'); END`,
    );
    const batches = Array.from({ length: 20 }, () => Array.from({ length: 50 }, () => ev()));
    await Promise.all(batches.map((b) => store.insertEvents(p.id, b)));
    expect(store.pendingEvents).toBe(1000);
    await store.close();
    onOtherConnection(dir, 'DROP TRIGGER stuck');
    const again = await openSqlite({ dataDir: dir });
    expect(await again.insertEvents(p.id, batches[3]!)).toEqual({ accepted: 0, duplicates: 50, erased: 0 });
    const countLog = (): number => {
      const db = new Database(join(dir, LOG_FILE), { readonly: true });
      const n = db.prepare('SELECT count(*) FROM ingest_log').pluck().get() as number;
      db.close();
      return n;
    };
    await vi.waitFor(() => expect(countLog()).toBe(0));
    const exported = [];
    for await (const e of again.personEvents(p.id, 'user-1')) exported.push(e.uuid);
    expect(new Set(exported).size).toBe(1000);
    expect(exported).toHaveLength(1000);
    await again.close();
  });

  it('expands log rows written in the earlier JSON payload format', async () => {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const p = await store.createProject('p');
    const uuid = '018f0000-0000-7000-8000-000000000001';
    const row = [
      null,
      'old',
      'u',
      Date.parse('2026-01-01T00:00:00Z'),
      null,
      '2026-01-01T00:00:00.000Z',
      '{"a":1}',
    ];
    onOtherConnection(
      dir,
      `INSERT INTO ingest_log (project_pk, n, keys, payload)
       VALUES (1, 1, X'${uuid.replace(/-/g, '')}', '${JSON.stringify([row])}')`,
      LOG_FILE,
    );
    const stored = await store.queryEvents({ projectId: p.id, limit: 10 });
    expect(stored).toMatchObject([
      { uuid, event: 'old', distinctId: 'u', originalTimestamp: null, properties: { a: 1 } },
    ]);
    await store.close();
  });

  it('adopts log rows an earlier version left in homing.db: counted as duplicates, then expanded', async () => {
    const dir = tempDir();
    const first = await openSqlite({ dataDir: dir });
    const p = await first.createProject('p');
    await first.close();
    const uuid = '018f0000-0000-7000-8000-0000000000aa';
    // The NUL-separated payload: uuid (empty: the key gives it back), event, distinct id,
    // timestamp ms, original timestamp (empty: none), received at, properties.
    const fields = [
      '',
      'old',
      'u',
      Date.parse('2026-01-01T00:00:00Z'),
      '',
      '2026-01-01T00:00:00.000Z',
      '{"a":1}',
    ];
    const row = fields.map((f) => `\u0000${f}`).join('');
    const db = new Database(join(dir, 'homing.db'));
    db.prepare('INSERT INTO ingest_log (id, project_pk, n, keys, payload) VALUES (?, 1, 1, ?, ?)').run(
      7,
      Buffer.from(uuid.replace(/-/g, ''), 'hex'),
      row,
    );
    db.close();
    const store = await openSqlite({ dataDir: dir });
    const again = { ...ev(), uuid };
    expect(await store.insertEvents(p.id, [again])).toEqual({ accepted: 0, duplicates: 1, erased: 0 });
    expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toMatchObject([
      { uuid, event: 'old', distinctId: 'u', properties: { a: 1 } },
    ]);
    const check = new Database(join(dir, 'homing.db'), { readonly: true });
    expect(check.prepare('SELECT count(*) FROM ingest_log').pluck().get()).toBe(0);
    check.close();
    await store.close();
  });

  it('expands what arrives after its log file was removed (new ids stay above the expanded ones)', async () => {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const p = await store.createProject('p');
    await store.insertEvents(
      p.id,
      Array.from({ length: 30 }, () => ev()),
    );
    await store.drain();
    await store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, LOG_FILE + suffix), { force: true });
    const reopened = await openSqlite({ dataDir: dir });
    const later = ev({ event: 'after' });
    expect(await reopened.insertEvents(p.id, [later])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
    expect(
      (await reopened.queryEvents({ projectId: p.id, event: 'after', limit: 10 })).map((e) => e.uuid),
    ).toEqual([later.uuid]);
    await reopened.close();
  });

  it('makes a new log file with 16 KiB pages and keeps using one made with 4 KiB pages', async () => {
    const pageSize = (dir: string): number => {
      const db = new Database(join(dir, LOG_FILE), { readonly: true });
      try {
        return db.pragma('page_size', { simple: true }) as number;
      } finally {
        db.close();
      }
    };
    const fresh = tempDir();
    const a = await openSqlite({ dataDir: fresh });
    await a.close();
    expect(pageSize(fresh)).toBe(16_384);

    const older = tempDir();
    const b = await openSqlite({ dataDir: older });
    const p = await b.createProject('p');
    await b.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(older, LOG_FILE + suffix), { force: true });
    onOtherConnection(
      older,
      `PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;
       CREATE TABLE ingest_log (id INTEGER PRIMARY KEY AUTOINCREMENT, project_pk INTEGER NOT NULL,
         n INTEGER NOT NULL, keys BLOB NOT NULL, payload TEXT NOT NULL)`,
      LOG_FILE,
    );
    const reopened = await openSqlite({ dataDir: older });
    const events = Array.from({ length: 100 }, () => ev());
    expect(await reopened.insertEvents(p.id, events)).toEqual({ accepted: 100, duplicates: 0, erased: 0 });
    expect(await reopened.insertEvents(p.id, events.slice(0, 10))).toEqual({
      accepted: 0,
      duplicates: 10,
      erased: 0,
    });
    expect(await reopened.queryEvents({ projectId: p.id, limit: 1000 })).toHaveLength(100);
    await reopened.close();
    expect(pageSize(older)).toBe(4096);
  });

  it('counts as duplicates events another connection expanded behind its key filter', async () => {
    const dir = tempDir();
    // A's worker sleeps (long poll, nothing of A's to expand), so it cannot notice B's work.
    const a = await openSqlite({ dataDir: dir, expandPollMs: 60_000 });
    const p = await a.createProject('p');
    await a.insertEvents(p.id, [ev()]);
    await a.drain();
    await vi.waitFor(() => expect(a.keyFilterReady).toBe(true), { timeout: 15_000 });
    const b = await openSqlite({ dataDir: dir });
    const e = ev();
    expect(await b.insertEvents(p.id, [e])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
    await b.drain();
    await b.close();
    expect(a.keyFilterReady).toBe(true);
    expect(await a.insertEvents(p.id, [e, ev()])).toEqual({ accepted: 1, duplicates: 1, erased: 0 });
    await a.close();
  });

  it('builds its key filter from the events already stored and still counts their resends', async () => {
    const dir = tempDir();
    const first = await openSqlite({ dataDir: dir });
    const p = await first.createProject('p');
    const batch = Array.from({ length: 50 }, () => ev());
    await first.insertEvents(p.id, batch);
    await first.close();
    const again = await openSqlite({ dataDir: dir });
    await vi.waitFor(() => expect(again.keyFilterReady).toBe(true), { timeout: 15_000 });
    expect(await again.insertEvents(p.id, [...batch, ev()])).toEqual({
      accepted: 1,
      duplicates: 50,
      erased: 0,
    });
    await again.close();
  });

  it('drain() moves the whole log into events', async () => {
    const store = await openSqlite({ dataDir: tempDir() });
    const p = await store.createProject('p');
    const batch = [ev(), ev()];
    await store.insertEvents(p.id, batch);
    await store.drain();
    expect(store.pendingEvents).toBe(0);
    const db = new Database(store.path, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM events').pluck().get()).toBe(2);
    db.close();
    const log = new Database(store.logPath, { readonly: true });
    expect(log.prepare('SELECT count(*) FROM ingest_log').pluck().get()).toBe(0);
    log.close();
    await store.close();
  });
});

describe('SqliteStore expansion under a steady load', () => {
  it('expands in its worker while inserts keep arriving', async () => {
    const store = await openSqlite({ dataDir: tempDir() });
    const p = await store.createProject('p');
    let inserted = 0;
    let expandedDuringLoad = false;
    const deadline = Date.now() + 15_000;
    while (!expandedDuringLoad && Date.now() < deadline) {
      await store.insertEvents(
        p.id,
        Array.from({ length: 10 }, () => ev()),
      );
      inserted += 10;
      expandedDuringLoad = store.pendingEvents < inserted - 10;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(expandedDuringLoad).toBe(true);
    await store.close();
  });
});
