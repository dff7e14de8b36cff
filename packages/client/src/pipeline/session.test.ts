import { describe, expect, it } from 'vitest';
import { checkEventName, MAX_EVENT_NAME_LENGTH } from './eventName.js';
import type { KeptSession, SessionStore } from './session.js';
import { Session } from './session.js';

/** The origin's localStorage as the sessions of several tabs (or page loads) see it. */
function sharedStore(): SessionStore & { kept: KeptSession | undefined; writes: number } {
  return {
    kept: undefined,
    writes: 0,
    read() {
      return this.kept;
    },
    write(session) {
      this.kept = session;
      this.writes++;
    },
  };
}

describe('Session', () => {
  it('keeps the id while active and rotates after the idle time', () => {
    const s = new Session(1000);
    const a = s.touch(10_000);
    expect(s.touch(10_999)).toBe(a);
    expect(s.touch(11_998)).toBe(a);
    const b = s.touch(12_998);
    expect(b).not.toBe(a);
    expect(b > a).toBe(true);
  });

  it('does not rotate when the clock steps back', () => {
    const s = new Session(1000);
    const a = s.touch(10_000);
    expect(s.touch(5_000)).toBe(a);
  });

  it('after a clock step back, rotates once idle for sessionIdleMs from the step', () => {
    const IDLE = 30 * 60_000;
    const HOUR = 3_600_000;
    const t = 1_700_000_000_000;
    for (const step of [HOUR, 24 * HOUR]) {
      const s = new Session(IDLE);
      const a = s.touch(t);
      expect(s.touch(t - step)).toBe(a);
      expect(s.touch(t - step + IDLE - 1)).toBe(a);
      // Idle for a whole sessionIdleMs after the last event, in real time.
      const b = s.touch(t - step + 2 * IDLE);
      expect(b).not.toBe(a);
    }
  });
});

describe('Session with a store (a page)', () => {
  const IDLE = 60_000;

  it('is shared by the page loads and tabs of an origin', () => {
    const store = sharedStore();
    const first = new Session(IDLE, store);
    const a = first.touch(10_000);
    // The next page load (or another tab), a moment later.
    expect(new Session(IDLE, store).touch(11_000)).toBe(a);
    expect(new Session(IDLE, store).touch(12_000)).toBe(a);
    expect(first.touch(13_000)).toBe(a);
  });

  it('never rotates while events keep coming in some tab, and rotates once all are idle', () => {
    const store = sharedStore();
    const tabA = new Session(IDLE, store);
    const tabB = new Session(IDLE, store);
    const id = tabA.touch(0);
    expect(tabB.touch(1)).toBe(id);
    // Tab A keeps tracking every second for three idle periods; tab B is quiet meanwhile.
    for (let t = 1_000; t <= 3 * IDLE; t += 1_000) expect(tabA.touch(t)).toBe(id);
    expect(tabB.touch(3 * IDLE + 1)).toBe(id);
    // A page load after a whole idle period (and the write interval) without events: a new one.
    const later = new Session(IDLE, store).touch(4 * IDLE + 10_000);
    expect(later).not.toBe(id);
    expect(tabA.touch(4 * IDLE + 10_001)).toBe(later);
  });

  it('writes the store when the session changes and then at most once per write interval', () => {
    const store = sharedStore();
    const s = new Session(30 * 60_000, store);
    for (let t = 0; t < 60_000; t += 10) s.touch(t);
    // 6 000 events in a minute: the first write and one per 5 s after it.
    expect(store.writes).toBeLessThanOrEqual(13);
    expect(store.kept?.lastMs).toBeGreaterThanOrEqual(55_000);
  });

  it('restart (reset) starts a new session, which the other tabs join', () => {
    const store = sharedStore();
    const tabA = new Session(IDLE, store);
    const tabB = new Session(IDLE, store);
    const old = tabA.touch(1_000);
    expect(tabB.touch(1_001)).toBe(old);
    tabA.restart();
    const fresh = tabA.touch(1_002);
    expect(fresh).not.toBe(old);
    expect(store.kept?.id).toBe(fresh);
    // Tab B reads the store again within the write interval.
    expect(tabB.touch(1_001 + 6_000)).toBe(fresh);
  });

  it('after a clock step back, the store too counts idle time from the step', () => {
    const HOUR = 3_600_000;
    const t = 1_700_000_000_000;
    for (const step of [HOUR, 24 * HOUR]) {
      const store = sharedStore();
      const tab = new Session(IDLE, store);
      const a = tab.touch(t);
      // Within the write interval of the last write, yet the store is brought back to the clock.
      expect(tab.touch(t - step)).toBe(a);
      expect(store.kept?.lastMs).toBe(t - step);
      // A page load soon after the step joins the session.
      expect(new Session(IDLE, store).touch(t - step + 1_000)).toBe(a);
      // Idle for sessionIdleMs (and the write interval) since then: this tab and a new page rotate.
      const later = t - step + 1_000 + IDLE + 10_000;
      const b = tab.touch(later);
      expect(b).not.toBe(a);
      expect(new Session(IDLE, store).touch(later + 1)).toBe(b);
    }
  });

  it('joins a session whose stored time is ahead of the clock, and brings the time back', () => {
    const store = sharedStore();
    const a = new Session(IDLE, store).touch(1_000_000);
    // A new page load after the clock stepped back an hour.
    expect(new Session(IDLE, store).touch(1_000_000 - 3_600_000)).toBe(a);
    expect(store.kept?.lastMs).toBe(1_000_000 - 3_600_000);
    expect(new Session(IDLE, store).touch(1_000_000 - 3_600_000 + IDLE + 10_000)).not.toBe(a);
  });

  it('keeps the in-memory rule when the store keeps nothing (storage blocked or full)', () => {
    const nothing: SessionStore = { read: () => undefined, write: () => undefined };
    const s = new Session(1000, nothing);
    const a = s.touch(10_000);
    expect(s.touch(10_999)).toBe(a);
    expect(s.touch(12_998)).not.toBe(a);
  });

  it('with sessionIdleMs 0 every event is its own session, and nothing is stored', () => {
    const store = sharedStore();
    const s = new Session(0, store);
    expect(s.touch(1)).not.toBe(s.touch(1));
    expect(store.writes).toBe(0);
  });
});

describe('checkEventName', () => {
  it.each([
    [undefined, 'event name is undefined'],
    [null, 'event name is null'],
    [42, 'event name is number'],
    [{}, 'event name is object'],
    ['', 'event name is empty'],
    ['   ', 'event name is empty'],
  ])('drops %j', (input, detail) => {
    expect(checkEventName(input)).toEqual({ ok: false, detail });
  });

  it.each([
    ['signup', 'signup', false],
    ['  signup ', 'signup', true],
    ['x'.repeat(MAX_EVENT_NAME_LENGTH + 50), 'x'.repeat(MAX_EVENT_NAME_LENGTH), true],
  ])('keeps %j', (input, name, fixed) => {
    expect(checkEventName(input)).toEqual({ ok: true, name, fixed });
  });
});
