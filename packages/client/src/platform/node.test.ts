import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { EventEmitter } from 'node:events';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import { adoptLegacyDirectory } from './adoptLegacyDirectory.node.js';
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
 * An install made before names got a hash ('@acme/cli' was `<cache>/homing/_acme_cli`) must find
 * its outbox (queued events, install id, kept identity) after the upgrade, in real directories.
 */
describe('the outbox directory of an install made before the hashed names', () => {
  let cache: string;
  afterEach(() => rmSync(cache, { recursive: true, force: true }));
  const legacyInstall = (segment: string, installId: string): string => {
    const old = join(cache, 'homing', segment);
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'install-id'), installId);
    return old;
  };

  it('is moved to the hashed name, with what it held', () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    const old = legacyInstall('_acme_cli', 'old-install');
    const dir = defaultOutboxDirectory('@acme/cli', cache);
    expect(dir).toBe(join(cache, 'homing', safeSegment('@acme/cli')));
    expect(readFileSync(join(dir, 'install-id'), 'utf8')).toBe('old-install');
    expect(existsSync(old)).toBe(false);
    // The next start finds it in its new place.
    expect(defaultOutboxDirectory('@acme/cli', cache)).toBe(dir);
  });

  it('is left alone when the hashed one exists already', () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    const old = legacyInstall('_acme_cli', 'old-install');
    const hashed = join(cache, 'homing', safeSegment('@acme/cli'));
    mkdirSync(hashed);
    writeFileSync(join(hashed, 'install-id'), 'new-install');
    expect(defaultOutboxDirectory('@acme/cli', cache)).toBe(hashed);
    expect(readFileSync(join(hashed, 'install-id'), 'utf8')).toBe('new-install');
    expect(readFileSync(join(old, 'install-id'), 'utf8')).toBe('old-install');
  });

  it('goes to the first of two names that shared it; the other starts empty', () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    legacyInstall('caf_', 'shared-install');
    const first = defaultOutboxDirectory('café', cache);
    const second = defaultOutboxDirectory('cafè', cache);
    expect(first).not.toBe(second);
    expect(readFileSync(join(first, 'install-id'), 'utf8')).toBe('shared-install');
    expect(existsSync(second)).toBe(false);
  });

  it('is used where it is when it cannot be moved, and nothing throws', () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    const parent = join(cache, 'homing');
    const old = legacyInstall('_acme_cli', 'old-install');
    // The target's parent is a file: the rename fails (ENOTDIR), the legacy directory stays in use.
    writeFileSync(join(cache, 'not-a-dir'), '');
    expect(adoptLegacyDirectory(parent, '_acme_cli', join('..', 'not-a-dir', 'x'))).toBe(old);
    // Neither exists: the hashed one, made later by the outbox.
    expect(adoptLegacyDirectory(parent, 'gone', 'gone-12345678')).toBe(join(parent, 'gone-12345678'));
    // The cache directory itself is unreadable as a directory: still no throw.
    expect(() => defaultOutboxDirectory('@acme/cli', join(cache, 'not-a-dir'))).not.toThrow();
  });

  it('is not touched for a name that was already safe', () => {
    cache = mkdtempSync(join(tmpdir(), 'homing-cache-'));
    legacyInstall('my-cli', 'kept');
    expect(defaultOutboxDirectory('my-cli', cache)).toBe(join(cache, 'homing', 'my-cli'));
    expect(readFileSync(join(cache, 'homing', 'my-cli', 'install-id'), 'utf8')).toBe('kept');
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
