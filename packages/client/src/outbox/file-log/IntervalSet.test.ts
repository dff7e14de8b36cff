import { describe, expect, it } from 'vitest';
import { IntervalSet } from './IntervalSet.js';

/** The intervals of a bitmap, as `toJSON` writes them: the reference the set must agree with. */
function intervalsOf(bits: readonly boolean[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < bits.length; i++) {
    if (!bits[i]) continue;
    let j = i;
    while (j < bits.length && bits[j]) j++;
    out.push(i, j);
    i = j;
  }
  return out;
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

describe('IntervalSet', () => {
  it('agrees with a bitmap over random adds and removes (every way a range can meet the intervals)', () => {
    const SIZE = 120;
    for (let seed = 1; seed <= 40; seed++) {
      const next = random(seed);
      const set = new IntervalSet();
      const bits = new Array<boolean>(SIZE).fill(false);
      for (let step = 0; step < 300; step++) {
        const start = Math.floor(next() * SIZE);
        const end = Math.min(SIZE, start + 1 + Math.floor(next() * 20));
        const adding = next() < 0.55;
        if (adding) set.add(start, end);
        else set.remove(start, end);
        for (let k = start; k < end; k++) bits[k] = adding;
        expect(set.toJSON()).toEqual(intervalsOf(bits));
        const probe = Math.floor(next() * SIZE);
        let until = probe;
        while (until < SIZE && bits[until]) until++;
        expect(set.skip(probe)).toBe(until);
      }
    }
  });

  it('claims and acks record after record, in order, as the outbox does', () => {
    const claimed = new IntervalSet();
    const gone = new IntervalSet();
    // Ten records of 10 bytes: claimed one by one, then acked one by one, oldest first.
    for (let r = 0; r < 10; r++) claimed.add(r * 10, r * 10 + 10);
    expect(claimed.toJSON()).toEqual([0, 100]);
    for (let r = 0; r < 10; r++) {
      claimed.remove(r * 10, r * 10 + 10);
      gone.add(r * 10, r * 10 + 10);
      expect(claimed.toJSON()).toEqual(r === 9 ? [] : [r * 10 + 10, 100]);
      expect(gone.toJSON()).toEqual([0, r * 10 + 10]);
    }
  });

  it('cuts an interval from its end, and leaves the next interval alone', () => {
    const set = new IntervalSet();
    set.add(0, 50);
    set.add(60, 80);
    set.remove(40, 55);
    expect(set.toJSON()).toEqual([0, 40, 60, 80]);
    set.remove(30, 70);
    expect(set.toJSON()).toEqual([0, 30, 70, 80]);
    set.remove(10, 20);
    expect(set.toJSON()).toEqual([0, 10, 20, 30, 70, 80]);
  });
});
