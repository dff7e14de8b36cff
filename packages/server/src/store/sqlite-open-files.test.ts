import { cpSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenFiles } from './sqlite-open-files.js';
import type { SqliteStore } from './sqlite.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';
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
