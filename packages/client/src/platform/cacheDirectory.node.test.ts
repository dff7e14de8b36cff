import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HomingEvent } from '../event.js';
import { OutboxIoError } from '../outbox/errors.js';
import { testPlatform } from '../delivery/delivery.test-helpers.js';
import { createTelemetry } from '../index.node.js';
import { defaultOutboxDirectory, NoCacheDirectoryError, userCacheDirectory } from './cacheDirectory.node.js';

/** What `os.homedir()` and `os.userInfo()` answer in a test (undefined: the real ones). */
const fake = vi.hoisted(() => ({
  homedir: undefined as (() => string) | undefined,
  userInfo: undefined as (() => { homedir: string }) | undefined,
}));
vi.mock('node:os', async (importOriginal) => {
  const os = await importOriginal<typeof import('node:os')>();
  const homedir = (): string => (fake.homedir ?? os.homedir)();
  const userInfo = ((...args: []) => (fake.userInfo ?? os.userInfo)(...args)) as typeof os.userInfo;
  return { ...os, default: { ...os, homedir, userInfo }, homedir, userInfo };
});

/** What `os.homedir()` throws for a uid without a passwd entry and no HOME. */
function noPasswdEntry(): never {
  throw Object.assign(new Error('A system error occurred: uv_os_homedir returned ENOENT'), {
    code: 'ERR_SYSTEM_ERROR',
  });
}

let savedXdg: string | undefined;
beforeEach(() => {
  savedXdg = process.env.XDG_CACHE_HOME;
  delete process.env.XDG_CACHE_HOME;
});
afterEach(() => {
  if (savedXdg !== undefined) process.env.XDG_CACHE_HOME = savedXdg;
  fake.homedir = undefined;
  fake.userInfo = undefined;
});

describe('the user cache directory without a usable home', () => {
  it('an empty or relative HOME is no home: never the working directory', () => {
    for (const home of ['', '.', 'home/me']) {
      expect(() => userCacheDirectory({}, 'linux', home)).toThrow(NoCacheDirectoryError);
      expect(() => userCacheDirectory({}, 'darwin', home)).toThrow(NoCacheDirectoryError);
      expect(() => userCacheDirectory({}, 'win32', home)).toThrow(NoCacheDirectoryError);
    }
    // As a relative XDG_CACHE_HOME or %LOCALAPPDATA% is no cache directory.
    expect(() => userCacheDirectory({ XDG_CACHE_HOME: 'rel' }, 'linux', '')).toThrow(NoCacheDirectoryError);
    expect(() => userCacheDirectory({ LOCALAPPDATA: 'rel' }, 'win32', '')).toThrow(NoCacheDirectoryError);
    // An absolute XDG_CACHE_HOME needs no home at all.
    expect(userCacheDirectory({ XDG_CACHE_HOME: '/var/cache/me' }, 'linux', noPasswdEntry)).toBe(
      '/var/cache/me',
    );
  });

  it("HOME set empty or relative: the passwd entry's home is taken", () => {
    fake.homedir = () => '';
    fake.userInfo = () => ({ homedir: '/home/from-passwd' });
    expect(defaultOutboxDirectory('app')).toBe('/home/from-passwd/.cache/homing/app');
  });

  it('no HOME and no passwd entry: a NoCacheDirectoryError, not a SystemError', () => {
    fake.homedir = noPasswdEntry;
    fake.userInfo = noPasswdEntry;
    expect(() => defaultOutboxDirectory('app')).toThrow(NoCacheDirectoryError);
    fake.homedir = () => 'relative';
    expect(() => defaultOutboxDirectory('app')).toThrow(NoCacheDirectoryError);
  });

  it.each([
    ['no HOME and no passwd entry', noPasswdEntry],
    ['HOME empty and no passwd entry', () => ''],
  ])('createTelemetry does not throw (%s): events kept in memory, with a warning', async (_, homedir) => {
    fake.homedir = homedir;
    fake.userInfo = noPasswdEntry;
    const received: HomingEvent[] = [];
    const warnings: string[] = [];
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async (events) => void received.push(...events) }],
      platform: testPlatform(),
      logger: { debug() {}, warn: (m: string) => void warnings.push(m), error() {} },
      delivery: { intervalMs: 20 },
    });
    try {
      t.track('still.sent');
      const refused = await t.persist().then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(OutboxIoError);
      expect((refused as OutboxIoError).cause).toBeInstanceOf(NoCacheDirectoryError);
      await t.flush({ timeoutMs: 5_000 });
      expect(received.map((e) => e.event)).toEqual(['still.sent']);
      expect(warnings[0]).toContain('no cache directory');
    } finally {
      await t.shutdown({ timeoutMs: 1_000 });
    }
  });
});
