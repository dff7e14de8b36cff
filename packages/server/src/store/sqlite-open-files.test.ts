import { copyFileSync, cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OpenFiles } from './sqlite-open-files.js';
import type { SqliteStore } from './sqlite.js';
import { onOtherConnection, openSqlite, tempDir } from './sqlite.test-helpers.js';
import { ev } from './store.contract.js';

describe('the data directory removed or replaced under a running SQLite store', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (): Promise<{ dir: string; store: SqliteStore }> => {
    const dir = tempDir();
    dirs.push(dir, `${dir}.aside`);
    const store = await openSqlite({ dataDir: dir });
    stores.push(store);
    return { dir, store };
  };

  it('a relative dataDir stays the same files after the process changes directory', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const before = process.cwd();
    process.chdir(dir);
    try {
      const store = await openSqlite({ dataDir: 'data' });
      stores.push(store);
      const p = await store.createProject('p');
      process.chdir(before);
      // The paths were looked at against the new working directory: "removed", and 503 for good.
      await expect(store.ping()).resolves.toBeUndefined();
      expect(await store.insertEvents(p.id, [ev()])).toMatchObject({ accepted: 1 });
      expect(store.path).toBe(join(dir, 'data', 'homing.db'));
    } finally {
      process.chdir(before);
    }
  });

  it('removed: ingest is refused rather than acknowledged into deleted files, and ping fails', async () => {
    const { dir, store } = await open();
    const p = await store.createProject('p');
    rmSync(dir, { recursive: true, force: true });
    const err = await store.insertEvents(p.id, [ev()]).catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect((err as Error).message).toContain(
      `${join(dir, 'homing.db')} was removed while the store had it open`,
    );
    await expect(store.ping()).rejects.toMatchObject({ kind: 'data-dir' });
    // Failed for good: a later call does not wait for the next look.
    await expect(store.insertEvents(p.id, [ev()])).rejects.toMatchObject({ kind: 'data-dir' });
    await expect(store.queryEvents({ projectId: p.id, limit: 1 })).rejects.toMatchObject({
      kind: 'data-dir',
    });
  });

  it('replaced (restored from a copy under the same name): ping fails, naming the replaced file', async () => {
    const { dir, store } = await open();
    await store.ping();
    renameSync(dir, `${dir}.aside`);
    cpSync(`${dir}.aside`, dir, { recursive: true });
    const err = await store.ping().catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: 'data-dir' });
    expect((err as Error).message).toMatch(/homing\.db was replaced by another file/);
  });
});

describe('a WAL file removed under a running SQLite store', () => {
  const dirs: string[] = [];
  const stores: SqliteStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close().catch(() => {});
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const open = async (dataDir = tempDir()): Promise<SqliteStore> => {
    dirs.push(dataDir);
    const store = await openSqlite({ dataDir });
    stores.push(store);
    return store;
  };

  for (const file of ['homing.db-wal', 'ingest-log.db-wal']) {
    it(`${file}: readiness fails and ingest is refused, naming the file and a clean stop`, async () => {
      const store = await open();
      const p = await store.createProject('p');
      await store.insertEvents(p.id, [ev()]);
      await store.drain();
      const wal = join(dirs[0]!, file);
      expect(existsSync(wal)).toBe(true);
      rmSync(wal);
      const err = await store.ping().catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'data-dir' });
      expect((err as Error).message).toContain(`${wal} was removed while the store had it open`);
      expect((err as Error).message).toContain('not kill -9');
      await expect(store.insertEvents(p.id, [ev()])).rejects.toMatchObject({ kind: 'data-dir' });
    });
  }

  for (const file of ['homing.db-wal', 'ingest-log.db-wal']) {
    it(`${file} removed, then a kill: nothing acknowledged is lost (copied in at once, and the log kept)`, async (ctx) => {
      const dir = tempDir();
      const notices: string[] = [];
      dirs.push(dir);
      const store = await openSqlite({ dataDir: dir, onFilesChanged: (m) => notices.push(m) });
      stores.push(store);
      const p = await store.createProject('p');
      // Committed and expanded before the removal, never checkpointed: in homing.db-wal only (the
      // log rows trimmed), or for the log's WAL, in ingest-log.db-wal.
      const before = Array.from({ length: 20 }, () => ev());
      await store.insertEvents(p.id, before);
      if (file === 'homing.db-wal') await store.drain();
      rmSync(join(dir, file));
      // Acknowledged before the commit path looked again, and expanded into the removed WAL.
      const sent = [ev(), ev(), ev()];
      const acked = await store.insertEvents(p.id, sent).then(
        () => true,
        () => false,
      );
      // A machine so slow that the second had passed: refused, nothing to lose.
      if (!acked) ctx.skip();
      await store.drain().catch(() => {});
      // Until the expanded rows were trimmed (old behaviour) or the store found the WAL gone.
      const logRows = (): number => {
        const db = new Database(join(dir, 'ingest-log.db'), { readonly: true });
        try {
          return db.prepare('SELECT count(*) FROM ingest_log').pluck().get() as number;
        } finally {
          db.close();
        }
      };
      while (
        (file === 'ingest-log.db-wal' || logRows() > 0) &&
        (await store.ping().then(
          () => true,
          () => false,
        ))
      ) {
        await new Promise((r) => setTimeout(r, 10));
      }
      await expect(store.insertEvents(p.id, [ev()])).rejects.toMatchObject({ kind: 'data-dir' });
      // Bounded: the old code never reports, and the check below then fails.
      await vi.waitFor(() => expect(notices).toHaveLength(1), { timeout: 5000 }).catch(() => {});
      expect(notices[0]).toContain(`${join(dir, file)} was `);
      expect(notices[0]).toContain('is now copied into');
      // A kill: the files as on disk now (a removed WAL is not there), nothing closed.
      const copy = `${dir}.killed`;
      dirs.push(copy);
      mkdirSync(copy);
      for (const f of ['homing.db', 'homing.db-wal', 'ingest-log.db', 'ingest-log.db-wal']) {
        if (existsSync(join(dir, f))) copyFileSync(join(dir, f), join(copy, f));
      }
      const after = await openSqlite({ dataDir: copy });
      stores.push(after);
      const found = await after.queryEvents({ projectId: p.id, limit: 100 });
      expect(found.map((e) => e.uuid).sort()).toEqual([...before, ...sent].map((e) => e.uuid).sort());
    });
  }

  it('no false alarm: checkpoints that truncate, other connections and stores opening and closing', async () => {
    const dir = tempDir();
    const store = await open(dir);
    const p = await store.createProject('p');
    for (let i = 0; i < 3; i++) {
      await store.insertEvents(p.id, [ev(), ev()]);
      await store.drain();
      onOtherConnection(dir, 'PRAGMA wal_checkpoint(TRUNCATE)');
      onOtherConnection(dir, 'PRAGMA wal_checkpoint(TRUNCATE)', 'ingest-log.db');
      const other = await openSqlite({ dataDir: dir });
      await other.ping();
      await other.close();
      await store.ping();
    }
    expect(await store.insertEvents(p.id, [ev()])).toMatchObject({ accepted: 1 });
    expect(await store.queryEvents({ projectId: p.id, limit: 100 })).toHaveLength(7);
  });
});

describe('OpenFiles', () => {
  it('looks at most once per interval on the commit path, always when asked to, and stays failed', () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'f');
      writeFileSync(file, 'x');
      let now = 0;
      const files = new OpenFiles(dir, 1000, () => now);
      files.add(file);
      expect(files.check()).toBeNull();
      rmSync(file);
      now = 999;
      expect(files.check()).toBeNull();
      expect(files.check(true)?.message).toContain(`${file} was removed`);
      writeFileSync(file, 'back');
      now = 5000;
      expect(files.check()).toMatchObject({ kind: 'data-dir' });
      expect(files.failed).toMatchObject({ kind: 'data-dir' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
