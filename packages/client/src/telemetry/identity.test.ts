import { mkdtempSync, promises as fs, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { IDENTITY_FILE, identityFile } from './identityFile.node.js';
import { identityKey, identityLocalStorage } from './identityLocalStorage.js';
import { IDENTITY_STATE_KEY, outboxIdentityStore } from './identityStore.js';
import { INSTALL_ID_STATE_KEY } from './installId.js';
import { INSTALL_ID_FILE, installIdFile } from './installIdFile.node.js';
import { installIdKey, installIdLocalStorage } from './installIdLocalStorage.js';
import { WhoEventsAreAbout } from './WhoEventsAreAbout.js';
import { FileOutbox } from '../outbox/file-log/FileOutbox.js';
import { silentLogger } from '../logger.js';
import type { SyncStorage } from './localStorageAccess.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';

/** Two processes' ids on one outbox directory (file stores), each with the install id read or made there. */
function twoProcessesOn(directory: string, outbox: Outbox): [WhoEventsAreAbout, WhoEventsAreAbout] {
  const make = (): WhoEventsAreAbout => {
    const who = new WhoEventsAreAbout(
      undefined,
      identityFile(directory),
      installIdFile(directory),
      outbox,
      silentLogger,
    );
    who.installId = who.installIdNow();
    return who;
  };
  return [make(), make()];
}

describe('identify() is kept for the next runs, until reset()', () => {
  let sink: Sink;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-identity-'));
  beforeAll(async () => {
    sink = await Sink.start();
  });
  beforeEach(() => {
    sink.requests.length = 0;
  });
  afterAll(async () => {
    await sink.down();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (
    directory: string,
    body: (t: ReturnType<typeof clientFor>) => void,
    options: Parameters<typeof clientFor>[1] = {},
  ): Promise<void> => {
    const t = clientFor(sink, { storage: 'file', directory, ...options });
    body(t);
    await t.shutdown({ timeoutMs: 10_000 });
  };
  const byName = (): Map<string, string> =>
    new Map(sinkEvents(sink).map((e) => [e.event, e.distinct_id] as [string, string]));

  it('on Node, in a file beside the install id: a CLI run after `login` is still the user; after reset() it is not', async () => {
    const directory = path.join(dir, 'cli');
    await run(directory, (t) => t.track('before.login'));
    await run(directory, (t) => {
      t.identify('user-7');
      t.track('login');
    });
    expect((await fs.readFile(path.join(directory, IDENTITY_FILE), 'utf8')).trim()).toBe('user-7');
    await run(directory, (t) => t.track('next.run'));
    await run(directory, (t) => {
      t.track('logout.before');
      t.reset();
      t.track('logout.after');
    });
    await run(directory, (t) => t.track('after.logout'));
    const ids = byName();
    const anonymous = ids.get('before.login');
    expect(anonymous).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids.get('login')).toBe('user-7');
    expect(ids.get('next.run')).toBe('user-7');
    expect(ids.get('logout.before')).toBe('user-7');
    // Anonymous again, under a new install id (the old one is user-7's in PostHog and Segment,
    // which would count these events as theirs), kept for the runs after.
    expect(ids.get('logout.after')).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids.get('logout.after')).not.toBe(anonymous);
    expect(ids.get('after.logout')).toBe(ids.get('logout.after'));
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(
      ids.get('logout.after'),
    );
    await expect(fs.access(path.join(directory, IDENTITY_FILE))).rejects.toThrow();
  });

  it('identify() and reset() while shutdown() flushes are kept for the next run; after it, they are not and the app is told', async () => {
    const hanging = await Sink.start(() => new Promise(() => {}));
    try {
      const drain = async (directory: string, change: (t: ReturnType<typeof clientFor>) => void) => {
        const t = clientFor(hanging, { storage: 'file', directory });
        t.identify('alice');
        t.track('run1');
        const closing = t.shutdown({ timeoutMs: 600 });
        // The shutdown's flush now waits on the endpoint: a logout (or another login) in a SIGTERM drain.
        await new Promise((r) => setTimeout(r, 100));
        change(t);
        await closing;
      };
      const logout = path.join(dir, 'drain-reset');
      await drain(logout, (t) => t.reset());
      await run(logout, (t) => t.track('after.drain.reset'));
      const anonymous = byName().get('after.drain.reset');
      expect(anonymous).toMatch(/^[0-9a-f-]{36}$/);
      await expect(fs.access(path.join(logout, IDENTITY_FILE))).rejects.toThrow();

      const switched = path.join(dir, 'drain-identify');
      await drain(switched, (t) => t.identify('bob'));
      await run(switched, (t) => t.track('after.drain.identify'));
      expect(byName().get('after.drain.identify')).toBe('bob');

      // Once shutdown() has resolved the storage is closed: nothing is written, and a warning says so.
      const late = path.join(dir, 'late-reset');
      const warnings: string[] = [];
      const logger = { debug() {}, error() {}, warn: (m: string) => void warnings.push(m) };
      await run(late, (t) => t.identify('carol'));
      const t = clientFor(sink, { storage: 'file', directory: late, logger });
      await t.shutdown({ timeoutMs: 2_000 });
      t.reset();
      t.identify('dave');
      expect(warnings.filter((w) => w.includes('after shutdown() is not kept'))).toHaveLength(2);
      expect(warnings[0]).toContain('reset()');
      expect((await fs.readFile(path.join(late, IDENTITY_FILE), 'utf8')).trim()).toBe('carol');
    } finally {
      await hanging.down();
    }
  });

  it('identify() while shutdown() flushes writes nothing once another process stored a denial', async () => {
    const hanging = await Sink.start(() => new Promise(() => {}));
    const directory = path.join(dir, 'drain-denied-elsewhere');
    try {
      const a = clientFor(hanging, { storage: 'file', directory });
      a.track('work');
      await new Promise((r) => setTimeout(r, 150));
      const closing = a.shutdown({ timeoutMs: 3_000 });
      await new Promise((r) => setTimeout(r, 100));
      // The user turns telemetry off in another process; this one no longer follows the consent.
      const b = clientFor(sink, { storage: 'file', directory });
      b.setConsent('denied');
      await b.shutdown({ timeoutMs: 2_000 });
      a.identify('alice@example.com');
      await closing;
      await expect(fs.access(path.join(directory, IDENTITY_FILE))).rejects.toThrow();
    } finally {
      await hanging.down();
    }
  });

  it('reset() with nobody identified keeps the install id: nothing linked it to anyone', async () => {
    const directory = path.join(dir, 'no-login');
    await run(directory, (t) => t.track('first'));
    await run(directory, (t) => {
      t.reset();
      t.track('after.reset');
    });
    const ids = byName();
    expect(ids.get('after.reset')).toBe(ids.get('first'));
  });

  it('reset() under a denial removes the old install id and stores no new one; the next granted run makes another', async () => {
    const directory = path.join(dir, 'denied-logout');
    await run(directory, (t) => {
      t.identify('user-5');
      t.track('as.user');
    });
    const old = (await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim();
    await run(directory, (t) => {
      t.setConsent('denied');
      t.reset();
    });
    await expect(fs.access(path.join(directory, INSTALL_ID_FILE))).rejects.toThrow();
    await run(directory, (t) => {
      t.setConsent('granted');
      t.track('next');
    });
    const next = byName().get('next');
    expect(next).toMatch(/^[0-9a-f-]{36}$/);
    expect(next).not.toBe(old);
  });

  it('a denial removes the install id with the kept identity: the next user after a grant is not merged into the one before', async () => {
    const directory = path.join(dir, 'denied-no-logout');
    await run(directory, (t) => {
      t.identify('alice');
      t.track('as.alice');
    });
    const old = (await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim();
    await run(directory, (t) => t.setConsent('denied'));
    await expect(fs.access(path.join(directory, INSTALL_ID_FILE))).rejects.toThrow();
    await expect(fs.access(path.join(directory, IDENTITY_FILE))).rejects.toThrow();
    await run(directory, (t) => {
      t.setConsent('granted');
      t.track('anonymous');
      t.identify('bob');
    });
    const events = sinkEvents(sink);
    const anonymous = events.find((e) => e.event === 'anonymous')!.distinct_id;
    const bob = events.find((e) => e.event === '$identify' && e.distinct_id === 'bob')!;
    // PostHog merged `old` into alice at her $identify: under it, bob would have become alice.
    expect(anonymous).toMatch(/^[0-9a-f-]{36}$/);
    expect([anonymous, bob.properties.$anon_distinct_id]).toEqual([anonymous, anonymous]);
    expect(anonymous).not.toBe(old);
  });

  it('denied then granted in one run keeps the install id of the run, stored again at the grant', async () => {
    const directory = path.join(dir, 'denied-granted');
    await run(directory, (t) => t.track('first'));
    const old = (await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim();
    await run(directory, (t) => {
      t.setConsent('denied');
      t.setConsent('granted');
      t.track('after.grant');
    });
    expect(byName().get('after.grant')).toBe(old);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(old);
  });

  it('a denial also removes the ids an earlier version kept in the outbox state: a later run does not take them over', async () => {
    const directory = path.join(dir, 'denied-state-copies');
    const earlier = new FileOutbox({ directory });
    await earlier.setState(INSTALL_ID_STATE_KEY, '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    await earlier.setState(IDENTITY_STATE_KEY, 'alice');
    await earlier.close();
    await run(directory, (t) => t.track('taken.over'));
    expect(byName().get('taken.over')).toBe('alice');
    await run(directory, (t) => t.setConsent('denied'));
    await run(directory, (t) => {
      t.setConsent('granted');
      t.track('after.grant');
    });
    const after = byName().get('after.grant');
    expect(after).toMatch(/^[0-9a-f-]{36}$/);
    expect(after).not.toBe('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    await expect(fs.access(path.join(directory, IDENTITY_FILE))).rejects.toThrow();
  });

  it("denied then granted in one run stores the run's install id again: localStorage, and an app's own outbox", async () => {
    // localStorage (browsers): the id in use is stored, not a new one made beside it.
    const storage = new MemoryStorage();
    const outbox = createMemoryOutbox();
    const who = new WhoEventsAreAbout(
      undefined,
      identityLocalStorage('app', outbox, () => storage),
      installIdLocalStorage('app', outbox, () => storage),
      outbox,
      silentLogger,
    );
    who.installId = who.installIdNow();
    const id = who.installId;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    who.removeStoredInstallId();
    expect(storage.getItem(installIdKey('app'))).toBeNull();
    who.storeAfterGrant();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect([who.installId, storage.getItem(installIdKey('app'))]).toEqual([id, id]);
    // An app's own outbox (the id in its state).
    const own = createMemoryOutbox();
    const t = clientFor(sink, { storage: own, rememberConsent: false });
    t.track('first');
    await t.flush({ timeoutMs: 10_000 });
    const first = byName().get('first');
    t.setConsent('denied');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await own.getState(INSTALL_ID_STATE_KEY)).toBeUndefined();
    t.setConsent('granted');
    t.track('second');
    await t.flush({ timeoutMs: 10_000 });
    expect(byName().get('second')).toBe(first);
    expect(await own.getState(INSTALL_ID_STATE_KEY)).toBe(first);
    await t.shutdown({ timeoutMs: 5_000 });
  });

  it('an id taken over from the outbox state does not come back after a denial in the same run', async () => {
    const directory = path.join(dir, 'denied-at-start-state');
    const old = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';
    const earlier = new FileOutbox({ directory });
    await earlier.setState(INSTALL_ID_STATE_KEY, old);
    await earlier.close();
    await run(
      directory,
      (t) => {
        t.setConsent('granted');
        t.track('after.grant');
      },
      { consent: 'denied', rememberConsent: false },
    );
    const after = byName().get('after.grant');
    expect(after).toMatch(/^[0-9a-f-]{36}$/);
    expect(after).not.toBe(old);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(after);
  });

  it('a process following a grant adopts the install id another process stored meanwhile (one a reset retired is not written back)', async () => {
    const directory = mkdtempSync(path.join(dir, 'two-processes-'));
    const outbox = createMemoryOutbox();
    const [a, b] = twoProcessesOn(directory, outbox);
    const x = a.installId!;
    expect(b.installId).toBe(x);
    // A: a logout retires X (PostHog merged it into the user who left) and stores Y.
    a.identified = 'alice';
    a.reset(true);
    const y = a.installId!;
    expect(y).not.toBe(x);
    // A denial, followed by both; then a grant, A first.
    a.removeStoredInstallId();
    b.removeStoredInstallId();
    a.storeAfterGrant();
    b.storeAfterGrant();
    expect([a.installId, b.installId]).toEqual([y, y]);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(y);
  });

  it("a grant after a denial stores nothing once a later denial came, keeps the run's id where the store is async, and a reset under the denial wins over the retired id", async () => {
    const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
    // An app's own outbox (the id in its state, read asynchronously): granted, then denied at once.
    const outbox = createMemoryOutbox();
    const flipping = new WhoEventsAreAbout(
      undefined,
      outboxIdentityStore(outbox),
      undefined,
      outbox,
      silentLogger,
    );
    flipping.installId = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a60';
    flipping.removeStoredInstallId();
    flipping.storeAfterGrant();
    flipping.removeStoredInstallId();
    await settle();
    expect(await outbox.getState(INSTALL_ID_STATE_KEY)).toBeUndefined();
    // A worker (no localStorage): the run's own id is kept, not a new one made beside it.
    const workerOutbox = createMemoryOutbox();
    const worker = new WhoEventsAreAbout(
      undefined,
      outboxIdentityStore(workerOutbox),
      installIdLocalStorage('app', workerOutbox, () => undefined),
      workerOutbox,
      silentLogger,
    );
    worker.installId = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a61';
    worker.removeStoredInstallId();
    worker.storeAfterGrant();
    await settle();
    expect([worker.installId, await workerOutbox.getState(INSTALL_ID_STATE_KEY)]).toEqual([
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a61',
      '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a61',
    ]);
    // Two processes on X; under a denial A logs out (a new id in memory); B grants first.
    const directory = mkdtempSync(path.join(dir, 'reset-under-denial-'));
    const [a, b] = twoProcessesOn(directory, outbox);
    const x = a.installId!;
    a.removeStoredInstallId();
    b.removeStoredInstallId();
    a.identified = 'alice';
    a.reset(false);
    const c = a.installId!;
    expect(c).not.toBe(x);
    b.storeAfterGrant();
    a.storeAfterGrant();
    await settle();
    expect(a.installId).toBe(c);
    expect((await fs.readFile(path.join(directory, INSTALL_ID_FILE), 'utf8')).trim()).toBe(c);
  });

  it('the distinctId option wins over the kept identity, and a damaged file is ignored', async () => {
    const directory = path.join(dir, 'option');
    await run(directory, (t) => t.identify('user-8'));
    await run(directory, (t) => t.track('explicit'), { distinctId: 'service-account' });
    writeFileSync(path.join(directory, IDENTITY_FILE), ' \u0000bad id \n'.repeat(50));
    await run(directory, (t) => t.track('damaged'));
    const ids = byName();
    expect(ids.get('explicit')).toBe('service-account');
    expect(ids.get('damaged')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('in the outbox state (an async store): events tracked before it is read wait for it', async () => {
    const outbox = createMemoryOutbox();
    await outbox.setState(IDENTITY_STATE_KEY, 'user-9');
    const t = clientFor(sink, { storage: outbox });
    t.track('right.away');
    await t.shutdown({ timeoutMs: 10_000 });
    const raced = clientFor(sink, { storage: outbox });
    // reset() before the kept identity was read: it must not come back afterwards.
    raced.reset();
    raced.track('after.reset');
    await raced.shutdown({ timeoutMs: 10_000 });
    const ids = byName();
    expect(ids.get('right.away')).toBe('user-9');
    expect(ids.get('after.reset')).not.toBe('user-9');
    expect(await outbox.getState(IDENTITY_STATE_KEY)).toBeUndefined();
    await outbox.close();
  });

  it('identityFile: bad input and concurrent writes leave one whole id', async () => {
    const directory = path.join(dir, 'store');
    const store = identityFile(directory);
    expect(store.read()).toBeUndefined();
    await Promise.all(['a-1', 'b-2', 'c-3'].map((id) => store.write(id)));
    expect(store.read()).toBe('c-3');
    expect((await fs.readdir(directory)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    await store.write(undefined);
    expect(store.read()).toBeUndefined();
    await store.write(undefined);
    writeFileSync(path.join(directory, IDENTITY_FILE), 'x'.repeat(201));
    expect(store.read()).toBeUndefined();
    // Kept by a version that let identify('..') through: the server refuses it, so it is not used.
    writeFileSync(path.join(directory, IDENTITY_FILE), '..');
    expect(store.read()).toBeUndefined();
  });

  it('identityFile: the same id again is not rewritten, unless another process wrote another since; a removed directory is made again', async () => {
    const directory = path.join(dir, 'same-again');
    const file = path.join(directory, IDENTITY_FILE);
    const store = identityFile(directory);
    await store.write('user-1');
    const { ino } = await fs.stat(file);
    for (let i = 0; i < 5; i++) await store.write('user-1');
    // A rewrite renames a new file over the old one: a new inode.
    expect((await fs.stat(file)).ino).toBe(ino);
    identityFile(directory).write('user-2'); // another process
    await store.write('user-1');
    expect(store.read()).toBe('user-1');
    rmSync(directory, { recursive: true, force: true });
    await store.write('user-3');
    expect(store.read()).toBe('user-3');
  });

  it('identityLocalStorage: synchronous in localStorage, the outbox state without usable storage', async () => {
    const storage = new MemoryStorage();
    const outbox = createMemoryOutbox();
    const store = identityLocalStorage('app', outbox, () => storage);
    expect(store.read()).toBeUndefined();
    await store.write('user-10');
    expect(storage.getItem(identityKey('app'))).toBe('user-10');
    expect(store.read()).toBe('user-10');
    await store.write(undefined);
    expect(store.read()).toBeUndefined();
    storage.setItem(identityKey('app'), '');
    expect(store.read()).toBeUndefined();

    const blocked = identityLocalStorage('app', outbox, () => {
      throw new Error('SecurityError');
    });
    await blocked.write('user-11');
    expect(await outbox.getState(IDENTITY_STATE_KEY)).toBe('user-11');
    expect(await blocked.read()).toBe('user-11');

    const full: SyncStorage = {
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
      removeItem: () => {},
    };
    await expect(identityLocalStorage('app', outbox, () => full).write('user-12')).resolves.toBeUndefined();
  });
});

describe('the identity file beside the outbox', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-identity-link-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is not read through a symbolic link (its target is not the user’s id)', async () => {
    const target = path.join(dir, 'secret.txt');
    writeFileSync(target, 'My-secret-api-token-12345\n');
    await fs.symlink(target, path.join(dir, IDENTITY_FILE));
    // Before, the target's text was taken for the user's id and sent as their distinct_id.
    expect(identityFile(dir).read()).toBeUndefined();
    await identityFile(dir).write('user-1');
    expect(identityFile(dir).read()).toBe('user-1');
    expect(await fs.readFile(target, 'utf8')).toBe('My-secret-api-token-12345\n');
  });
});
