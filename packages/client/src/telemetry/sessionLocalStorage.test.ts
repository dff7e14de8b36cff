import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';
import { samplingPoint } from '../pipeline/sampling.js';
import { Session } from '../pipeline/session.js';
import type { SyncStorage } from './localStorageAccess.js';
import { sessionKey, sessionLocalStorage } from './sessionLocalStorage.js';

describe('the session kept in localStorage (browsers)', () => {
  it('is read by the next page load of the same app, not by another app of the origin', () => {
    const storage = new MemoryStorage();
    const id = new Session(
      60_000,
      sessionLocalStorage('app', () => storage),
    ).touch(1_000);
    expect(JSON.parse(storage.getItem(sessionKey('app'))!)).toEqual({ id, lastMs: 1_000 });
    expect(
      new Session(
        60_000,
        sessionLocalStorage('app', () => storage),
      ).touch(2_000),
    ).toBe(id);
    expect(
      new Session(
        60_000,
        sessionLocalStorage('other', () => storage),
      ).touch(2_000),
    ).not.toBe(id);
  });

  it("keeps the sampling point of the id its session started with for the session's other page loads and tabs", () => {
    const storage = new MemoryStorage();
    const store = (): ReturnType<typeof sessionLocalStorage> => sessionLocalStorage('app', () => storage);
    const IDLE = 30 * 60_000;
    const t = 1_700_000_000_000;
    const load1 = new Session(IDLE, store());
    // A tab of the same visit that joined before any event of it was built.
    const tab = new Session(IDLE, store());
    const id = load1.touch(t);
    expect(tab.touch(t + 1)).toBe(id);
    expect(load1.samplingPointFor(id, 'anon-1')).toBe(samplingPoint('anon-1'));
    // identify('user-1') on load 1: its events still go by the point the session started with.
    expect(load1.samplingPointFor(id, 'user-1')).toBe(samplingPoint('anon-1'));
    // The next page load, and the tab, already identified: the same point, not the user's.
    const load2 = new Session(IDLE, store());
    expect(load2.touch(t + 2_000)).toBe(id);
    expect(load2.samplingPointFor(id, 'user-1')).toBe(samplingPoint('anon-1'));
    expect(tab.samplingPointFor(id, 'user-1')).toBe(samplingPoint('anon-1'));
    // The point, not the id, is kept.
    expect(storage.getItem(sessionKey('app'))).not.toContain('anon-1');
    // A new visit is decided by the id it starts with.
    const later = new Session(IDLE, store());
    const next = later.touch(t + 2_000 + 2 * IDLE);
    expect(next).not.toBe(id);
    expect(later.samplingPointFor(next, 'user-1')).toBe(samplingPoint('user-1'));
    // An event built after its session ended is decided by its own id.
    expect(later.samplingPointFor(id, 'anon-1')).toBe(samplingPoint('anon-1'));
  });

  it('is written back to the clock at once when the clock steps back, so the visit still rotates', () => {
    const storage = new MemoryStorage();
    const store = (): ReturnType<typeof sessionLocalStorage> => sessionLocalStorage('app', () => storage);
    const IDLE = 30 * 60_000;
    const t = 1_700_000_000_000;
    const tab = new Session(IDLE, store());
    const a = tab.touch(t);
    expect(tab.touch(t - 3_600_000)).toBe(a);
    expect(JSON.parse(storage.getItem(sessionKey('app'))!)).toEqual({ id: a, lastMs: t - 3_600_000 });
    // 45 minutes without events after the step: the next page load starts a new session.
    expect(new Session(IDLE, store()).touch(t - 3_600_000 + 45 * 60_000)).not.toBe(a);
  });

  it('ignores a damaged value', () => {
    const storage = new MemoryStorage();
    const store = sessionLocalStorage('app', () => storage);
    for (const raw of [
      '{not json',
      '{"id":"<script>","lastMs":1}',
      '{"id":"0190a0b0-0000","lastMs":"x"}',
      'null',
    ]) {
      storage.setItem(sessionKey('app'), raw);
      expect(store.read()).toBeUndefined();
    }
  });

  it('falls back to memory, silently, when the storage throws, is full or is missing', () => {
    const throwing: SyncStorage = {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new DOMException('full', 'QuotaExceededError');
      },
      removeItem: () => undefined,
    };
    for (const storage of [() => throwing, () => undefined]) {
      const s = new Session(1_000, sessionLocalStorage('app', storage));
      const a = s.touch(10_000);
      expect(s.touch(10_999)).toBe(a);
      expect(s.touch(12_998)).not.toBe(a);
    }
  });
});
