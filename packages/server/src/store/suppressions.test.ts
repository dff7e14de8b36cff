import { describe, expect, it } from 'vitest';
import { prepareEvents } from './prepare-events.js';
import { ev } from './store.contract.js';
import { suppressionHash, Suppressions } from './suppressions.js';

describe('Suppressions', () => {
  it('drops exactly the suppressed events and keeps the keys of the rest aligned', () => {
    const s = new Suppressions();
    s.note('p1', suppressionHash('p1', 'alice'), Date.parse('2026-01-01T00:00:00.000Z'));
    const events = [
      ev({ distinctId: 'bob' }),
      ev({ distinctId: 'alice', timestamp: '2025-12-31T23:59:59.999Z' }),
      ev({ distinctId: 'alice', timestamp: '2026-01-01T00:00:00.001Z' }),
      ev({ distinctId: 'alice' }),
    ];
    const batch = prepareEvents(events);
    const keyOf = (i: number): string => batch.keys.toString('hex', 16 * i, 16 * i + 16);
    const expected = [keyOf(0), keyOf(2)];
    expect(s.dropSuppressed('p2', batch)).toBe(0);
    expect(s.dropSuppressed('p1', batch)).toBe(2);
    expect(batch.events.map((e) => e.uuid)).toEqual([events[0]!.uuid, events[2]!.uuid]);
    expect([keyOf(0), keyOf(1)]).toEqual(expected);
    expect(batch.keys.length).toBe(32);
  });

  it('keeps the latest erasure time, and hashes the project with the person', () => {
    const s = new Suppressions();
    s.note('p', suppressionHash('p', 'a'), 10);
    s.load([{ id: 3, projectId: 'p', hash: suppressionHash('p', 'a'), erasedAtMs: 5 }], 0);
    expect(s.lastId).toBe(3);
    const batch = prepareEvents([ev({ distinctId: 'a', timestamp: new Date(8).toISOString() })]);
    expect(s.dropSuppressed('p', batch)).toBe(1);
    expect(suppressionHash('p', 'a')).not.toEqual(suppressionHash('q', 'a'));
    expect(suppressionHash('pa', 'b')).not.toEqual(suppressionHash('p', 'ab'));
  });

  it('judges an event stamped with its receive time for its age by the time it happened (clampedFrom)', () => {
    const s = new Suppressions();
    const erasedAt = Date.parse('2026-01-01T00:00:00.000Z');
    s.note('p', suppressionHash('p', 'alice'), erasedAt);
    const received = '2026-01-02T00:00:00.000Z';
    const events = [
      // A clock reset to 1970, arriving after the erasure: it happened before it.
      ev({
        distinctId: 'alice',
        timestamp: received,
        receivedAt: received,
        clampedFrom: '1970-01-02T00:00:00.000Z',
      }),
      // Dated after the erasure (the person came back), too old for the retention period all the same.
      ev({
        distinctId: 'alice',
        timestamp: received,
        receivedAt: received,
        clampedFrom: '2026-01-01T00:00:00.001Z',
      }),
      ev({ distinctId: 'alice', timestamp: received, receivedAt: received }),
    ];
    const batch = prepareEvents(events);
    expect(batch.events.map((e) => e.eventMs)).toEqual([
      Date.parse('1970-01-02T00:00:00.000Z'),
      erasedAt + 1,
      Date.parse(received),
    ]);
    expect(s.dropSuppressed('p', batch)).toBe(1);
    expect(batch.events.map((e) => e.uuid)).toEqual([events[1]!.uuid, events[2]!.uuid]);
    expect(() => prepareEvents([ev({ clampedFrom: 'yesterday' })])).toThrow(/clampedFrom/);
  });

  it("forgets a removed project's entries, and only that project's", () => {
    const s = new Suppressions();
    s.note('gone', suppressionHash('gone', 'a'), 10);
    s.note('gone', suppressionHash('gone', 'b'), 10);
    s.note('kept', suppressionHash('kept', 'a'), 10);
    s.forget('gone');
    expect(s.has('gone')).toBe(false);
    expect(s.size).toBe(1);
    const old = new Date(5).toISOString();
    expect(s.dropSuppressed('kept', prepareEvents([ev({ distinctId: 'a', timestamp: old })]))).toBe(1);
    s.forget('never-there');
    expect(s.size).toBe(1);
  });

  it('is due for a refresh once per interval from the last read', () => {
    const s = new Suppressions(1000);
    expect(s.due(0)).toBe(true);
    s.load([], 5000);
    expect(s.due(5999)).toBe(false);
    expect(s.due(6000)).toBe(true);
  });
});
