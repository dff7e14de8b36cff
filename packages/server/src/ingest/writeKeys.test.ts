import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../store/sqlite.js';
import { openSqlite, tempDir } from '../store/sqlite.test-helpers.js';
import type { Store } from '../store/store.js';
import { WriteKeys } from './writeKeys.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A server's store, and `homing projects`' (projects only, as the CLI opens it) on the same data. */
async function stores(): Promise<{
  serving: SqliteStore;
  cli: SqliteStore;
  lookups: () => number;
  counted: Store;
}> {
  const dataDir = tempDir();
  const serving = await openSqlite({ dataDir });
  const cli = new SqliteStore({ dataDir, projectsOnly: true });
  await cli.migrate();
  cleanups.push(async () => {
    await cli.close();
    await serving.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  let n = 0;
  const counted = Object.create(serving) as Store;
  counted.findProjectByKey = (key: string) => {
    n++;
    return serving.findProjectByKey(key);
  };
  return { serving, cli, lookups: () => n, counted };
}

/** Date only: the stores' own timers and the worker run as usual. */
function fakeDate(): { advance(ms: number): void } {
  let now = Date.now();
  vi.useFakeTimers({ toFake: ['Date'], now });
  return {
    advance(ms) {
      now += ms;
      vi.setSystemTime(now);
    },
  };
}

describe('WriteKeys', () => {
  it('a key rotated by another process is refused within versionCheckMs, though found keys live a minute', async () => {
    const { serving, cli } = await stores();
    const p = await serving.createProject('p');
    const clock = fakeDate();
    const keys = new WriteKeys(serving, { ttlMs: 60_000, size: 100 });
    expect((await keys.resolve(p.writeKey)).id).toBe(p.id);
    const rotated = await cli.rotateProjectKeys(p.id, { write: true, admin: false });
    clock.advance(1000);
    await expect(keys.resolve(p.writeKey)).rejects.toMatchObject({ kind: 'unknown-key' });
    expect((await keys.resolve(rotated.writeKey)).id).toBe(p.id);
  });

  it('a removed project’s key is refused within versionCheckMs', async () => {
    const { serving, cli } = await stores();
    const gone = await serving.createProject('gone');
    const kept = await serving.createProject('kept');
    const clock = fakeDate();
    const keys = new WriteKeys(serving, { ttlMs: 60_000, size: 100 });
    await keys.resolve(gone.writeKey);
    await keys.resolve(kept.writeKey);
    await cli.removeProject(gone.id);
    clock.advance(1000);
    await expect(keys.resolve(gone.writeKey)).rejects.toMatchObject({ kind: 'unknown-key' });
    expect((await keys.resolve(kept.writeKey)).id).toBe(kept.id);
  });

  it('a wrong key sent again and again costs one store lookup; the refusals kept are bounded; a new key works at once', async () => {
    const { counted, serving, cli, lookups } = await stores();
    const p = await serving.createProject('p');
    const keys = new WriteKeys(counted, { ttlMs: 60_000, size: 3 });
    for (let i = 0; i < 50; i++)
      await expect(keys.resolve('hw_wrong')).rejects.toMatchObject({ kind: 'unknown-key' });
    expect(lookups()).toBe(1);
    // An admin key on ingest: refused for its role each time, looked up once.
    for (let i = 0; i < 5; i++)
      await expect(keys.resolve(p.adminKey)).rejects.toMatchObject({ kind: 'wrong-key-role' });
    expect(lookups()).toBe(2);
    // Three refusals at most: a fourth pushes out the oldest, which costs a lookup again.
    for (const k of ['hw_a', 'hw_b']) await expect(keys.resolve(k)).rejects.toThrow();
    expect(lookups()).toBe(4);
    await expect(keys.resolve('hw_wrong')).rejects.toThrow();
    expect(lookups()).toBe(5);
    // A project created a moment ago, by this process or another: its key is new to the cache.
    for (const made of [await serving.createProject('new'), await cli.createProject('other')])
      expect((await keys.resolve(made.writeKey)).id).toBe(made.id);
  });

  it('reads the keys version at most once every versionCheckMs, not per request', async () => {
    const { serving } = await stores();
    const p = await serving.createProject('p');
    const clock = fakeDate();
    let reads = 0;
    const counting = Object.create(serving) as Store;
    counting.keysVersion = () => {
      reads++;
      return serving.keysVersion();
    };
    const keys = new WriteKeys(counting, { ttlMs: 60_000, size: 100 });
    for (let i = 0; i < 100; i++) await keys.resolve(p.writeKey);
    expect(reads).toBe(1);
    clock.advance(1000);
    await Promise.all(Array.from({ length: 20 }, () => keys.resolve(p.writeKey)));
    expect(reads).toBe(2);
  });
});
