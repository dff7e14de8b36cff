import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';
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
