import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { createTelemetry, type TelemetryOptions } from '../index.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import { INSTALL_ID_STATE_KEY } from './installId.js';
import { installIdKey, installIdLocalStorage } from './installIdLocalStorage.js';
import { sessionKey } from './sessionLocalStorage.js';
import { consentCopyKey } from './identityLocalStorage.js';
import { createIndexedDBOutbox } from '../outbox/indexeddb.js';
import type { SyncStorage } from './localStorageAccess.js';
import { Sink, sinkEvents, testPlatform, until } from './telemetry.test-helpers.js';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';

/** A page's client on IndexedDB storage called `name`, sending to `host`. */
const pageClient = (name: string, host: string, options: Partial<TelemetryOptions> = {}) =>
  createTelemetry({
    endpoints: [{ destination: 'homing', host, key: 'k' }],
    storage: 'indexeddb',
    name,
    platform: testPlatform(),
    delivery: { intervalMs: 20 },
    ...options,
  });

describe('the install id copy in localStorage (browsers)', () => {
  it('replace() (a reset() after someone was identified) stores the new id in both places, or removes both', async () => {
    const outbox = createMemoryOutbox();
    const storage = new MemoryStorage();
    const store = installIdLocalStorage('app', outbox, () => storage);
    const old = store() as string;
    await store.replace!('0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    expect(storage.getItem(installIdKey('app'))).toBe('0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    expect(await outbox.getState(INSTALL_ID_STATE_KEY)).toBe('0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    expect(store()).toBe('0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    await store.replace!(undefined);
    expect(storage.getItem(installIdKey('app'))).toBeNull();
    expect(await outbox.getState(INSTALL_ID_STATE_KEY)).toBeUndefined();
    // The next read makes another, neither of the two before.
    const next = store() as string;
    expect(next).toMatch(/^[0-9a-f-]{36}$/);
    expect([old, '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b']).not.toContain(next);
  });

  it('makes the id on a first load synchronously, keeps it in localStorage and copies it to the outbox state', async () => {
    const outbox = createMemoryOutbox();
    const storage = new MemoryStorage();
    const store = installIdLocalStorage('app', outbox, () => storage);
    const id = store();
    // A string, not a Promise: a page's first events are built at once, even on a first visit.
    expect(typeof id).toBe('string');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(storage.getItem(installIdKey('app'))).toBe(id);
    await until(async () => (await outbox.getState(INSTALL_ID_STATE_KEY)) === id, 2_000, 'outbox state copy');
    expect(store()).toBe(id);
    // Another page of the same app (a new store on the same storage) has it at once too.
    expect(installIdLocalStorage('app', createMemoryOutbox(), () => storage)()).toBe(id);
    // Another app name on the same origin keeps its own.
    const other = installIdLocalStorage('other', createMemoryOutbox(), () => storage)();
    expect(typeof other).toBe('string');
    expect(other).not.toBe(id);
  });

  it('the copy in localStorage wins; the outbox state is what a load without usable localStorage reads', async () => {
    const outbox = createMemoryOutbox();
    await outbox.setState(INSTALL_ID_STATE_KEY, 'existing-install-0001');
    const unusable = () => undefined;
    expect(await installIdLocalStorage('app', outbox, unusable)()).toBe('existing-install-0001');
    const storage = new MemoryStorage();
    const id = installIdLocalStorage('app', outbox, () => storage)();
    expect(id).not.toBe('existing-install-0001');
    await until(
      async () => (await outbox.getState(INSTALL_ID_STATE_KEY)) === id,
      2_000,
      'outbox state follows',
    );
    expect(await installIdLocalStorage('app', outbox, unusable)()).toBe(id);
  });

  it("does not take a placeholder ('undefined', 'null') a bug stored for an id, in localStorage or the outbox state", async () => {
    for (const placeholder of ['undefined', 'UNDEFINED', 'null-null']) {
      const outbox = createMemoryOutbox();
      const storage = new MemoryStorage();
      storage.setItem(installIdKey('app'), placeholder);
      await outbox.setState(INSTALL_ID_STATE_KEY, placeholder);
      const id = await installIdLocalStorage('app', outbox, () => storage)();
      if (placeholder === 'null-null') expect(id).toBe(placeholder);
      else expect(id).toMatch(/^[0-9a-f-]{36}$/);
      const fromState = await installIdLocalStorage('other', outbox, () => undefined)();
      if (placeholder !== 'null-null') expect(fromState).not.toBe(placeholder);
    }
  });

  it('ignores a damaged copy, and works from the outbox alone without usable localStorage', async () => {
    const outbox = createMemoryOutbox();
    const storage = new MemoryStorage();
    storage.setItem(installIdKey('app'), '<script>');
    const id = await installIdLocalStorage('app', outbox, () => storage)();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(storage.getItem(installIdKey('app'))).toBe(id);
    const throwing: SyncStorage = {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
      removeItem: () => {},
    };
    for (const broken of [() => throwing, () => undefined]) {
      const store = installIdLocalStorage('app', outbox, broken);
      expect(await store()).toBe(id);
      expect(await store()).toBe(id);
    }
    const blocked = () => {
      throw new Error('reading localStorage is blocked');
    };
    expect(await installIdLocalStorage('app', outbox, blocked)()).toBe(id);
  });

  it('is what createTelemetry uses in a page with IndexedDB storage: both loads report as one install', async () => {
    const sink = await Sink.start();
    const storage = new MemoryStorage();
    const previous = (globalThis as { localStorage?: unknown }).localStorage;
    (globalThis as { localStorage?: unknown }).localStorage = storage;
    const name = `copy-${Date.now()}`;
    const make = () => pageClient(name, sink.url);
    try {
      const first = make();
      first.track('first.load');
      await first.flush({ timeoutMs: 15_000 });
      await first.shutdown({ timeoutMs: 5_000 });
      const second = make();
      // The copy answers synchronously, so this event is built at once (see the first test).
      second.track('second.load');
      await second.flush({ timeoutMs: 15_000 });
      await second.shutdown({ timeoutMs: 5_000 });
      const [a, b] = sinkEvents(sink);
      expect(a!.event).toBe('first.load');
      expect(b!.event).toBe('second.load');
      expect(b!.distinct_id).toBe(a!.distinct_id);
      expect(storage.getItem(installIdKey(name))).toBe(a!.distinct_id);
    } finally {
      (globalThis as { localStorage?: unknown }).localStorage = previous;
      await sink.down();
    }
  });

  // The remembered consent lives in IndexedDB, which answers only after the id would be made.
  it('a denial remembered by an earlier load: no install id nor session is stored on this one, in localStorage or IndexedDB', async () => {
    const sink = await Sink.start();
    const storage = new MemoryStorage();
    const previous = (globalThis as { localStorage?: unknown }).localStorage;
    const name = `denied-${Date.now()}`;
    const make = (consent?: 'denied') => pageClient(name, sink.url, consent === undefined ? {} : { consent });
    const storedId = async () => {
      const outbox = createIndexedDBOutbox({ name, unloadStorage: null });
      try {
        return await outbox.getState(INSTALL_ID_STATE_KEY);
      } finally {
        await outbox.close();
      }
    };
    try {
      (globalThis as { localStorage?: unknown }).localStorage = storage;
      const first = make('denied');
      // Tracked before the remembered consent is read: the session id is not kept either.
      first.track('dropped.first');
      expect(storage.getItem(sessionKey(name))).toBeNull();
      first.setConsent('denied');
      await first.shutdown({ timeoutMs: 5_000 });
      expect(storage.getItem(consentCopyKey(name))).toBe('denied');
      // Next load, default options: the copy in localStorage says no before an id is made.
      const second = make();
      second.track('dropped');
      expect(storage.getItem(sessionKey(name))).toBeNull();
      await second.flush({ timeoutMs: 5_000 });
      expect(storage.getItem(installIdKey(name))).toBeNull();
      expect(storage.getItem(sessionKey(name))).toBeNull();
      await second.shutdown({ timeoutMs: 5_000 });
      expect(await storedId()).toBeUndefined();
      // Without usable localStorage, nothing is made in IndexedDB before the denial is read there.
      (globalThis as { localStorage?: unknown }).localStorage = undefined;
      const blocked = make();
      blocked.track('dropped.too');
      await blocked.flush({ timeoutMs: 5_000 });
      await blocked.shutdown({ timeoutMs: 5_000 });
      expect(await storedId()).toBeUndefined();
      // Granting makes the id, and events flow under it.
      (globalThis as { localStorage?: unknown }).localStorage = storage;
      const granted = make();
      granted.setConsent('granted');
      granted.track('after.grant');
      await granted.flush({ timeoutMs: 15_000 });
      await granted.shutdown({ timeoutMs: 5_000 });
      expect(storage.getItem(consentCopyKey(name))).toBe('granted');
      // Granted: the session is kept for the other tabs and loads, as it is by default.
      expect(JSON.parse(storage.getItem(sessionKey(name)) ?? '{}')).toMatchObject({ id: expect.any(String) });
      const id = storage.getItem(installIdKey(name));
      expect(sinkEvents(sink).map((e) => [e.event, e.distinct_id])).toEqual([['after.grant', id]]);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      (globalThis as { localStorage?: unknown }).localStorage = previous;
      await sink.down();
    }
  });

  it('the copy follows the consent another tab stored, even when this tab already agrees', async () => {
    const storage = new MemoryStorage();
    const previous = (globalThis as { localStorage?: unknown }).localStorage;
    (globalThis as { localStorage?: unknown }).localStorage = storage;
    const name = `follow-${Date.now()}`;
    const make = () => pageClient(name, 'http://127.0.0.1:9');
    const a = make();
    const b = make();
    try {
      a.setConsent('denied');
      await a.persist();
      await until(async () => (await b.stats()).consent === 'denied', 10_000, 'b follows a');
      b.setConsent('granted');
      a.setConsent('denied');
      // Both tabs wrote the copy; here the earlier write landed last, as it can in a race.
      storage.setItem(consentCopyKey(name), 'granted');
      await a.persist();
      await b.persist();
      await until(async () => storage.getItem(consentCopyKey(name)) === 'denied', 10_000, 'copy repaired');
      expect((await a.stats()).consent).toBe('denied');
      expect((await b.stats()).consent).toBe('denied');
    } finally {
      await a.shutdown({ timeoutMs: 2_000 });
      await b.shutdown({ timeoutMs: 2_000 });
      (globalThis as { localStorage?: unknown }).localStorage = previous;
    }
  });
});
