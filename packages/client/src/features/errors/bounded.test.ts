import { describe, expect, it } from 'vitest';
import { BreadcrumbRing } from './BreadcrumbRing.js';
import { DedupWindow, type PendingDuplicates } from './DedupWindow.js';
import { ErrorGroupTable } from './ErrorGroupTable.js';
import { ErrorStatsCounter } from './ErrorStatsCounter.js';

const crumb = (i: number) => ({ category: 'c', message: `m${i}`, level: 'info' as const, timestamp: i });

describe('BreadcrumbRing', () => {
  it('keeps the newest, oldest first, through many wraps', () => {
    const ring = new BreadcrumbRing(3);
    for (let i = 0; i < 10_001; i++) ring.add(crumb(i));
    expect(ring.toArray().map((c) => c.timestamp)).toEqual([9998, 9999, 10000]);
    expect(ring.length).toBe(3);
    ring.clear();
    expect(ring.toArray()).toEqual([]);
  });
});

describe('DedupWindow', () => {
  it('counts within the window and reports the count with the next send', () => {
    const pending: PendingDuplicates[] = [];
    const d = new DedupWindow(1000, 10, (p) => pending.push(p));
    expect(d.check('a', 'id1', 0)).toEqual({ send: true, suppressedBefore: 0 });
    expect(d.check('a', 'id2', 999)).toEqual({ send: false });
    expect(d.check('a', 'id3', 500)).toEqual({ send: false }); // clock stepped back: still inside
    expect(d.check('a', 'id4', 1000)).toEqual({ send: true, suppressedBefore: 2 });
    expect(d.check('a', 'id5', 1500)).toEqual({ send: false });
    d.flush();
    expect(pending).toEqual([{ fingerprint: 'a', suppressed: 1, lastSentId: 'id4' }]);
    d.flush();
    expect(pending).toHaveLength(1);
  });

  it('hands over the pending count of an evicted fingerprint, never loses it', () => {
    const pending: PendingDuplicates[] = [];
    const d = new DedupWindow(60_000, 2, (p) => pending.push(p));
    d.check('a', 'a1', 0);
    d.check('a', 'a2', 1);
    d.check('b', 'b1', 2);
    d.check('c', 'c1', 3); // evicts a (least recently seen)
    expect(pending).toEqual([{ fingerprint: 'a', suppressed: 1, lastSentId: 'a1' }]);
    expect(d.size).toBe(2);
  });

  it('windowMs 0 sends everything and keeps nothing', () => {
    const d = new DedupWindow(0, 2, () => {});
    for (let i = 0; i < 5; i++) expect(d.check('a', `${i}`, 0)).toEqual({ send: true, suppressedBefore: 0 });
    expect(d.size).toBe(0);
  });
});

describe('ErrorGroupTable', () => {
  it('evicts the least recently seen group past maxGroups and keeps the highest severity', () => {
    const t = new ErrorGroupTable(2);
    t.record('a', 'E', 'a', 'info', 1);
    t.record('b', 'E', 'b', 'error', 2);
    t.record('a', 'E', 'a2', 'fatal', 3); // a is now the most recent
    t.record('c', 'E', 'c', 'debug', 4); // evicts b
    expect(t.list().map((g) => [g.fingerprint, g.count, g.severity, g.message])).toEqual([
      ['a', 2, 'fatal', 'a'],
      ['c', 1, 'debug', 'c'],
    ]);
    expect(t.evicted).toBe(1);
    const copy = t.list()[0]!;
    copy.count = 99;
    expect(t.list()[0]!.count).toBe(2);
  });
});

describe('ErrorStatsCounter', () => {
  it('caps distinct types at 100 plus (other)', () => {
    const s = new ErrorStatsCounter();
    for (let i = 0; i < 1000; i++) s.capture('error', `Type${i}`, true);
    const snap = s.snapshot(0);
    expect(Object.keys(snap.byType)).toHaveLength(101);
    expect(snap.byType['(other)']).toBe(900);
    expect(snap.recoveryRate).toBe(0);
  });
});
