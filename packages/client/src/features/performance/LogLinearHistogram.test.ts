import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LogLinearHistogram, RELATIVE_ERROR, bucketKey, bucketLowerBound } from './LogLinearHistogram.js';

/** The nearest-rank quantile the histogram promises to approximate. */
function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

function withinBound(estimate: number | null, exact: number): boolean {
  if (estimate === null) return false;
  if (exact === 0) return estimate === 0;
  return Math.abs(estimate - exact) / exact <= RELATIVE_ERROR * (1 + 1e-12);
}

// Latency-like data: log-uniform over many decades, plus exact zeros and repeated values.
const value = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -6, max: 9, noNaN: true }).map((e) => 10 ** e) },
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 5000 }) },
);
const QS = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1];

describe('LogLinearHistogram', () => {
  it('states a relative error bound of at most 1 %', () => {
    expect(RELATIVE_ERROR).toBeLessThanOrEqual(0.01);
  });

  it('maps every value into a bucket whose bounds contain it', () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1e300, noNaN: true }), (v) => {
        const key = bucketKey(v);
        expect(bucketLowerBound(key)).toBeLessThanOrEqual(v);
        expect(bucketLowerBound(key + 1)).toBeGreaterThan(v);
      }),
    );
  });

  it('answers every quantile within the bound of the exact nearest-rank value', () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 2000 }), (values) => {
        // Enough bins for the whole range, so nothing collapses.
        const h = new LogLinearHistogram(4096);
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        for (const q of QS) {
          const exact = exactQuantile(sorted, q);
          const got = h.quantile(q);
          if (!withinBound(got, exact)) throw new Error(`q=${q}: got ${got}, exact ${exact}`);
        }
        expect(h.count).toBe(values.length);
        expect(h.min).toBe(sorted[0]);
        expect(h.max).toBe(sorted.at(-1));
      }),
      { numRuns: 200 },
    );
  });

  it('merges to the same answers as recording everything in one', () => {
    fc.assert(
      fc.property(fc.array(value, { maxLength: 500 }), fc.array(value, { maxLength: 500 }), (a, b) => {
        const one = new LogLinearHistogram(4096);
        const left = new LogLinearHistogram(4096);
        const right = new LogLinearHistogram(4096);
        for (const v of a) {
          one.record(v);
          left.record(v);
        }
        for (const v of b) {
          one.record(v);
          right.record(v);
        }
        left.merge(right);
        // The sum is added in another order, so it may differ in the last bits.
        const { sum: s1, mean: m1, ...merged } = left.summary();
        const { sum: s2, mean: m2, ...direct } = one.summary();
        expect(merged).toEqual(direct);
        expect(s1).toBeCloseTo(s2, 6);
        expect(m1 ?? 0).toBeCloseTo(m2 ?? 0, 6);
        expect(left.toSparse().bins).toEqual(one.toSparse().bins);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps memory under maxBins and high quantiles within the bound when the range is huge', () => {
    const h = new LogLinearHistogram(128);
    const values: number[] = [];
    // 1e-6 .. 1e12: far more octaves than 128 bins (2 octaves) can hold.
    for (let i = 0; i < 20_000; i++) {
      const v = 10 ** (-6 + (18 * ((i * 7919) % 20_000)) / 20_000);
      values.push(v);
      h.record(v);
    }
    expect(h.bytes()).toBeLessThanOrEqual(160 + 128 * 8);
    expect(h.collapsed).toBe(true);
    expect(h.collapsedBelow).toBeGreaterThan(0);
    const sorted = values.sort((a, b) => a - b);
    for (const q of [0.995, 0.999, 1]) {
      expect(withinBound(h.quantile(q), exactQuantile(sorted, q))).toBe(true);
    }
    // The low end is coarse but never outside what was seen.
    expect(h.quantile(0.01)).toBeGreaterThanOrEqual(sorted[0]!);
    expect(h.count).toBe(20_000);
  });

  it('folds values below a collapsed floor into it instead of growing', () => {
    const h = new LogLinearHistogram(64);
    h.record(1e6);
    h.record(1);
    h.record(1e-3);
    h.record(1e-300);
    expect(h.bytes()).toBeLessThanOrEqual(160 + 64 * 8);
    expect(h.count).toBe(4);
    expect(h.quantile(1)).toBe(1e6);
    expect(h.quantile(0)).toBeGreaterThanOrEqual(1e-300);
  });

  it('reset empties it but keeps the window, and a reset histogram re-centres on new data', () => {
    const h = new LogLinearHistogram(64);
    for (let i = 1; i <= 100; i++) h.record(i);
    const bytes = h.bytes();
    h.reset();
    expect(h.summary()).toEqual({
      count: 0,
      sum: 0,
      min: null,
      max: null,
      mean: null,
      p50: null,
      p90: null,
      p95: null,
      p99: null,
    });
    h.record(1e9);
    h.record(1.5e9);
    expect(h.bytes()).toBe(bytes);
    expect(h.collapsed).toBe(false);
    expect(withinBound(h.quantile(0.5), 1e9)).toBe(true);
  });

  it('counts zeros exactly', () => {
    const h = new LogLinearHistogram();
    for (let i = 0; i < 10; i++) h.record(0);
    h.record(5);
    expect(h.quantile(0.9)).toBe(0);
    expect(h.quantile(1)).toBe(5);
    expect(h.summary().mean).toBeCloseTo(5 / 11);
  });

  it('answers null for an empty histogram and for a quantile out of range', () => {
    const h = new LogLinearHistogram();
    expect(h.quantile(0.5)).toBeNull();
    h.record(1);
    expect(h.quantile(-0.1)).toBeNull();
    expect(h.quantile(1.1)).toBeNull();
    expect(h.quantile(Number.NaN)).toBeNull();
  });

  it('round-trips through the sparse form and rejects malformed ones', () => {
    const h = new LogLinearHistogram();
    for (const v of [0, 0.5, 3, 3, 700, 1e5]) h.record(v);
    const copy = LogLinearHistogram.fromSparse(JSON.parse(JSON.stringify(h.toSparse())));
    expect(copy.summary()).toEqual(h.summary());
    const good = h.toSparse();
    const bad: unknown[] = [
      null,
      { ...good, bins: 'x' },
      { ...good, bins: [[1]] },
      { ...good, bins: [[-1, 1]] },
      { ...good, bins: [[1.5, 1]] },
      { ...good, bins: [[2 ** 20, 1]] },
      { ...good, bins: [[100, -1]] },
      { ...good, bins: [[100, Number.POSITIVE_INFINITY]] },
      { ...good, count: good.count + 1 },
      { ...good, zeros: Number.NaN },
      { ...good, min: null },
      { ...good, min: 10, max: 1 },
    ];
    for (const data of bad) {
      expect(() => LogLinearHistogram.fromSparse(data as never)).toThrow(TypeError);
    }
  });
});
