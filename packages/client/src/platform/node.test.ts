import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { EventEmitter } from 'node:events';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { defaultOutboxDirectory, safeSegment, userCacheDirectory } from './cacheDirectory.node.js';
import { createNodePlatform, SYNC_GZIP_MAX_BYTES } from './node.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('user cache directory', () => {
  it('follows each OS: LOCALAPPDATA, ~/Library/Caches, XDG_CACHE_HOME (absolute only) or ~/.cache', () => {
    expect(
      userCacheDirectory({ LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local' }, 'win32', 'C:\\Users\\a'),
    ).toBe('C:\\Users\\a\\AppData\\Local');
    expect(userCacheDirectory({}, 'win32', '/home/a')).toBe(join('/home/a', 'AppData', 'Local'));
    expect(userCacheDirectory({ XDG_CACHE_HOME: '/x' }, 'darwin', '/Users/a')).toBe(
      '/Users/a/Library/Caches',
    );
    expect(userCacheDirectory({ XDG_CACHE_HOME: '/var/cache/me' }, 'linux', '/home/a')).toBe('/var/cache/me');
    expect(userCacheDirectory({ XDG_CACHE_HOME: 'relative/dir' }, 'linux', '/home/a')).toBe('/home/a/.cache');
    expect(userCacheDirectory({}, 'freebsd', '/home/a')).toBe('/home/a/.cache');
  });

  it('puts the outbox in <cache>/homing/<name>, and a name can never climb out of it', () => {
    expect(defaultOutboxDirectory('my-cli', '/c')).toBe('/c/homing/my-cli');
    for (const name of ['../../etc', '/abs/path', '..', '.', '', 'a/b\\c', 'x\0y', 'é'.repeat(300)]) {
      const dir = defaultOutboxDirectory(name, '/c');
      const rel = relative('/c/homing', dir);
      expect(rel.startsWith('..')).toBe(false);
      expect(rel.includes('/')).toBe(false);
      expect(rel.length).toBeGreaterThan(0);
    }
    expect(safeSegment('')).toBe('default');
  });

  it('gives names that differ only in replaced characters, or past the cut, directories of their own', () => {
    const pairs = [
      ['café', 'cafè'],
      ['my app', 'my_app'],
      ['テスト', 'ツール'],
      ['.hidden', '_hidden'],
      ['x'.repeat(100) + 'a', 'x'.repeat(100) + 'b'],
    ];
    for (const [a, b] of pairs) {
      expect(defaultOutboxDirectory(a!, '/c'), `${a} / ${b}`).not.toBe(defaultOutboxDirectory(b!, '/c'));
      // Stable from run to run: the same name finds its outbox again.
      expect(safeSegment(a!)).toBe(safeSegment(a!));
    }
  });

  it('keeps the directory of a name that is already safe (existing outboxes are not left behind)', () => {
    for (const name of ['my-cli', 'My.App_2', 'a'.repeat(100)]) {
      expect(defaultOutboxDirectory(name, '/c')).toBe(`/c/homing/${name}`);
    }
  });
});

/**
 * A directory named as a version before the hashed names named one ('my app' was `<cache>/homing/my_app`)
 * is also the whole directory of the app named `my_app`, and nothing in it says which app wrote it:
 * it is never taken over, in real directories.
 */
describe('the directory an older version used for a name that now gets a hash', () => {
  let cache: string;
  afterEach(() => rmSync(cache, { recursive: true, force: true }));
  const outboxOf = (segment: string, installId: string): string => {
    const dir = join(cache, 'homing', segment);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'install-id'), installId);
    writeFileSync(join(dir, '000001700000000-1-0000abcd.log'), 'queued events');
    return dir;
  };
  const contentsOf = (dir: string): Record<string, string> =>
    Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

  it("is not taken by 'my app' when it is the outbox of the app named my_app, whichever starts first", () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    const mine = outboxOf('my_app', 'my_app-install');
    const before = contentsOf(mine);
    const other = defaultOutboxDirectory('my app', cache);
    expect(other).toBe(join(cache, 'homing', safeSegment('my app')));
    expect(other).not.toBe(mine);
    // Nothing moved or copied: my_app still has its queue, install id and identity.
    expect(existsSync(other)).toBe(false);
    expect(contentsOf(mine)).toEqual(before);
    expect(defaultOutboxDirectory('my_app', cache)).toBe(mine);
    expect(defaultOutboxDirectory('my app', cache)).toBe(other);
    expect(contentsOf(mine)).toEqual(before);
  });

  it("is left as it was at the first start of 'my app' after the upgrade, which starts a new outbox", () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    // Written by 'my app' itself before the upgrade: indistinguishable from my_app's.
    const old = outboxOf('my_app', 'old-install');
    const before = contentsOf(old);
    const dir = defaultOutboxDirectory('my app', cache);
    expect(dir).toBe(join(cache, 'homing', safeSegment('my app')));
    expect(existsSync(dir)).toBe(false);
    expect(contentsOf(old)).toEqual(before);
  });

  it("leaves each of two names that shared it ('café', 'cafè') its own directory, and it alone", () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    const old = outboxOf('caf_', 'shared-install');
    const first = defaultOutboxDirectory('café', cache);
    const second = defaultOutboxDirectory('cafè', cache);
    expect(new Set([first, second, old]).size).toBe(3);
    expect(existsSync(first) || existsSync(second)).toBe(false);
    expect(readFileSync(join(old, 'install-id'), 'utf8')).toBe('shared-install');
  });
});

describe('node platform', () => {
  it('reads env, is always online, has no unload send', () => {
    const p = createNodePlatform({ env: { HOMING_DEBUG: '1' } });
    expect(p.name).toBe('node');
    expect(p.env('HOMING_DEBUG')).toBe('1');
    expect(p.env('NOPE')).toBeUndefined();
    expect(p.isOnline()).toBe(true);
    const off = p.onOnlineChange(() => {});
    off();
    expect(p.sendOnUnload).toBeNull();
  });

  it('gzips with zlib: a small body on the spot, one over SYNC_GZIP_MAX_BYTES on the thread pool', async () => {
    const p = createNodePlatform();
    const small = JSON.stringify({ batch: Array.from({ length: 100 }, (_, i) => ({ i, s: 'é€' })) });
    const large = JSON.stringify({
      batch: Array.from({ length: 3000 }, (_, i) => ({ i, s: `é€ ${Math.random()}` })),
    });
    expect(Buffer.byteLength(small)).toBeLessThanOrEqual(SYNC_GZIP_MAX_BYTES);
    expect(Buffer.byteLength(large)).toBeGreaterThan(SYNC_GZIP_MAX_BYTES);
    for (const text of [small, large, '', '\u0000\uFFFD\uD83D\uDE00']) {
      const pending = p.gzip(text);
      expect(pending).toBeInstanceOf(Promise);
      expect(gunzipSync(await pending).toString('utf8')).toBe(text);
    }
  });

  it('the default outbox is a file outbox in the given directory or <cache>/homing/<name>', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-node-platform-'));
    dirs.push(dir);
    const made: string[] = [];
    const p = createNodePlatform({
      createOutbox: ({ directory }) => {
        made.push(directory);
        return createMemoryOutbox();
      },
    });
    await p.createDefaultOutbox({ name: 'app', directory: dir }).close();
    await p.createDefaultOutbox({ name: 'app' }).close();
    expect(made[0]).toBe(dir);
    expect(made[1]).toBe(defaultOutboxDirectory('app'));

    const real = createNodePlatform().createDefaultOutbox({ name: 'app', directory: join(dir, 'real') });
    real.append([{ uuid: 'u1', json: '{"uuid":"u1"}', timestampMs: Date.now() }]);
    await real.persist();
    const batch = await real.claim(10, 1_000_000);
    expect(batch?.records.map((r) => r.uuid)).toEqual(['u1']);
    await real.ack(batch!);
    await real.close();
  });

  it('onExit listens to beforeExit only, unsubscribes, and never lets a listener throw into the host', async () => {
    const proc = new EventEmitter();
    const p = createNodePlatform({ process: proc as never });
    let calls = 0;
    const off = p.onExit(() => {
      calls++;
      throw new Error('boom');
    });
    const offAsync = p.onExit(async () => {
      calls++;
      throw new Error('async boom');
    });
    // Both behind one listener (see beforeExit.ts).
    expect(proc.listenerCount('beforeExit')).toBe(1);
    expect(() => proc.emit('beforeExit', 0)).not.toThrow();
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(2);
    off();
    offAsync();
    expect(proc.listenerCount('beforeExit')).toBe(0);

    const before = process.listenerCount('beforeExit');
    const offReal = createNodePlatform().onExit(() => {});
    expect(process.listenerCount('beforeExit')).toBe(before + 1);
    offReal();
    expect(process.listenerCount('beforeExit')).toBe(before);
  });
});
