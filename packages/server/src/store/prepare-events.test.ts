import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareCodePoints, StatsTally } from './prepare-events.js';

describe('compareCodePoints', () => {
  it('orders strings as their UTF-8 bytes do (SQLite BINARY, PostgreSQL "C")', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const bytes = Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
        expect(Math.sign(compareCodePoints(a, b))).toBe(bytes);
      }),
    );
    // Where UTF-16 order differs: U+FFFD is below U+1F600 as code points, above it as units.
    expect(compareCodePoints('\uFFFD', '\u{1F600}')).toBeLessThan(0);
    expect('\uFFFD' < '\u{1F600}').toBe(false);
  });
});

describe('StatsTally', () => {
  it('folds a range of many names to the top maxEvents, the rest counted as other, between turns', async () => {
    const H = 3600_000;
    const tally = new StatsTally();
    const names = 50_000;
    // Name i has (i % 7) + 1 events in bucket i % 3, added in two rows (as two pieces would).
    const count = (i: number): number => (i % 7) + 1;
    for (let i = 0; i < names; i++) {
      const name = `e${i}`;
      tally.add(i % 3, name, 1);
      if (count(i) > 1) tally.add(i % 3, name, count(i) - 1);
    }
    let turns = 0;
    const result = await tally.fold(0, 3 * H, H, 1000, async () => {
      turns++;
    });
    // The folding ran in slices, not in one piece.
    expect(turns).toBeGreaterThanOrEqual(4);

    const expected = Array.from({ length: names }, (_, i) => i)
      .sort((a, b) => count(b) - count(a) || compareCodePoints(`e${a}`, `e${b}`))
      .slice(0, 1000);
    const named = new Set(expected.map((i) => `e${i}`));
    expect(result.otherNames).toBe(names - 1000);
    const seen = new Set<string>();
    for (const [b, bucket] of result.buckets.entries()) {
      let namedEvents = 0;
      for (const [name, n] of Object.entries(bucket.byEvent)) {
        expect(named.has(name)).toBe(true);
        const i = Number(name.slice(1));
        expect(i % 3).toBe(b);
        expect(n).toBe(count(i));
        namedEvents += n;
        seen.add(name);
      }
      let total = 0;
      for (let i = b; i < names; i += 3) total += count(i);
      expect(bucket.total).toBe(total);
      expect(bucket.other).toBe(total - namedEvents);
    }
    expect(seen.size).toBe(1000);
  });

  it('names every name when there are no more than maxEvents', async () => {
    const tally = new StatsTally();
    tally.add(0, 'a', 2);
    tally.add(1, 'b', 1);
    tally.add(0, 'a', 1);
    expect(await tally.fold(0, 2000, 1000, 2, async () => {})).toEqual({
      buckets: [
        { start: new Date(0).toISOString(), total: 3, byEvent: { a: 3 }, other: 0 },
        { start: new Date(1000).toISOString(), total: 1, byEvent: { b: 1 }, other: 0 },
      ],
      otherNames: 0,
    });
  });
});
