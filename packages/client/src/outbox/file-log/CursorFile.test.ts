import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CursorFile } from './CursorFile.js';

describe('CursorFile', () => {
  it('round-trips gone ranges, skips unchanged writes, and lets overlapping saves share writes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-cursor-'));
    const file = path.join(dir, 'cursor.json');
    const cursor = new CursorFile(file, { fsync: false });
    expect((await cursor.read()).size).toBe(0);
    let removed: Record<string, number[]> = { a: [0, 10] };
    await cursor.save(() => removed);
    const first = await cursor.signature();
    // Unchanged: no write (and, twice in a row, no hang).
    await cursor.save(() => removed);
    await cursor.save(() => removed);
    expect(await cursor.signature()).toBe(first);
    // Overlapping saves: each resolves only once a write saw its change.
    removed = { a: [0, 20] };
    const p1 = cursor.save(() => removed);
    removed = { a: [0, 20], b: [5, 9] };
    const p2 = cursor.save(() => removed);
    await Promise.all([p1, p2]);
    const reread = await new CursorFile(file, { fsync: false }).read();
    expect(Object.fromEntries([...reread].map(([k, v]) => [k, v.toJSON()]))).toEqual({
      a: [0, 20],
      b: [5, 9],
    });
    await fs.writeFile(file, '{"v":1,"removed":{"a":[0,');
    expect((await new CursorFile(file, { fsync: false }).read()).size).toBe(0);
    expect((await fs.readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  describe('saveSync (the write at exit) after a read found no file of ours there', () => {
    // QA: it renamed whatever was at cursor.json by then, a cursor another holder had written
    // since included, and never said what it moved aside, unlike `save`.
    it('moves a symlink aside and says so', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-cursor-'));
      const file = path.join(dir, 'cursor.json');
      await fs.symlink(path.join(dir, 'elsewhere'), file);
      const moved: string[] = [];
      const cursor = new CursorFile(file, { fsync: false, onMovedAside: (_, what) => void moved.push(what) });
      expect((await cursor.read()).size).toBe(0);
      cursor.saveSync(() => ({ a: [0, 10] }));
      expect(moved).toEqual(['a symbolic link']);
      expect((await fs.lstat(file)).isFile()).toBe(true);
      expect((await fs.readdir(dir)).filter((n) => n.endsWith('.in-the-way'))).toHaveLength(1);
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('replaces a cursor written there since, as a file of ours, without moving it aside', async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-cursor-'));
      const file = path.join(dir, 'cursor.json');
      await fs.symlink(path.join(dir, 'elsewhere'), file);
      const moved: string[] = [];
      const cursor = new CursorFile(file, { fsync: false, onMovedAside: (_, what) => void moved.push(what) });
      await cursor.read();
      await fs.rm(file);
      await fs.writeFile(file, JSON.stringify({ v: 1, removed: { b: [0, 5] } }));
      cursor.saveSync(() => ({ a: [0, 10] }));
      expect(moved).toEqual([]);
      expect(await fs.readdir(dir)).toEqual(['cursor.json']);
      await fs.rm(dir, { recursive: true, force: true });
    });
  });
});
