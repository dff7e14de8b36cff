import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Backoff } from './backoff.js';
import { constantBackoff, exponentialBackoff, linearBackoff } from './backoff.js';

function take(backoff: Backoff, n: number): number[] {
  const sequence = backoff.start();
  return Array.from({ length: n }, () => sequence.next());
}

describe('backoff', () => {
  it('constant gives the same delay, 0 included', () => {
    expect(take(constantBackoff(250), 3)).toEqual([250, 250, 250]);
    expect(take(constantBackoff(0), 2)).toEqual([0, 0]);
  });

  it('linear adds a step and stops at the cap', () => {
    expect(take(linearBackoff({ initialMs: 100, stepMs: 50, maxMs: 220 }), 5)).toEqual([
      100, 150, 200, 220, 220,
    ]);
    expect(take(linearBackoff({ initialMs: 0, stepMs: 0 }), 3)).toEqual([0, 0, 0]);
  });

  it('exponential without jitter multiplies and caps', () => {
    const b = exponentialBackoff({ initialMs: 10, factor: 3, maxMs: 500, jitter: 'none' });
    expect(take(b, 6)).toEqual([10, 30, 90, 270, 500, 500]);
  });

  it('full jitter picks in [0, exponential delay]', () => {
    const b = exponentialBackoff({
      initialMs: 100,
      factor: 2,
      maxMs: 1000,
      jitter: 'full',
      random: () => 0.5,
    });
    expect(take(b, 5)).toEqual([50, 100, 200, 400, 500]);
  });

  it('decorrelated jitter follows the Polly V2 formula', () => {
    const r = 0.3;
    const b = exponentialBackoff({ initialMs: 100, maxMs: 1e9, jitter: 'decorrelated', random: () => r });
    let prev = 0;
    const expected = [0, 1, 2, 3].map((i) => {
      const t = i + r;
      const next = 2 ** t * Math.tanh(Math.sqrt(4 * t));
      const d = ((next - prev) / 1.4) * 100;
      prev = next;
      return d;
    });
    const got = take(b, 4);
    got.forEach((d, i) => expect(d).toBeCloseTo(expected[i]!, 9));
    // It grows: the median delay roughly doubles per attempt.
    expect(got[3]!).toBeGreaterThan(got[1]!);
  });

  it("refuses a factor decorrelated jitter would ignore (its curve doubles), and keeps it for 'none' and 'full'", () => {
    for (const options of [{ factor: 1 }, { factor: 10, jitter: 'decorrelated' as const }]) {
      expect(() => exponentialBackoff(options)).toThrow(
        expect.objectContaining({
          kind: 'config',
          option: 'factor',
          message: expect.stringMatching(/jitter 'full'/),
        }),
      );
    }
    expect(take(exponentialBackoff({ factor: 2 }), 1)[0]).toBeGreaterThanOrEqual(0);
    expect(take(exponentialBackoff({ initialMs: 100, factor: 1, jitter: 'none' }), 3)).toEqual([
      100, 100, 100,
    ]);
    expect(
      take(exponentialBackoff({ initialMs: 100, factor: 3, jitter: 'full', random: () => 0.5 }), 3),
    ).toEqual([50, 150, 450]);
  });

  it('decorrelated jitter stays at the cap after thousands of attempts (no NaN)', () => {
    const seq = exponentialBackoff({ initialMs: 100, maxMs: 5000 }).start();
    let last = 0;
    for (let i = 0; i < 3000; i++) last = seq.next();
    expect(last).toBe(5000);
  });

  it('initialMs 0 stays 0 past a thousand attempts, with every jitter (0 · 2^1024 is NaN)', () => {
    for (const jitter of ['none', 'full', 'decorrelated'] as const) {
      const seq = exponentialBackoff({ initialMs: 0, maxMs: 30_000, jitter }).start();
      const delays = Array.from({ length: 3000 }, () => seq.next());
      expect(Math.max(...delays)).toBe(0);
    }
  });

  it('each start() is a fresh sequence', () => {
    const b = linearBackoff({ initialMs: 1, stepMs: 1 });
    take(b, 5);
    expect(take(b, 2)).toEqual([1, 2]);
  });

  it('a random source out of range cannot break the bounds', () => {
    const b = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 'full', random: () => 7 });
    for (const d of take(b, 5)) expect(d).toBeGreaterThanOrEqual(0);
  });

  it.each([
    [() => constantBackoff(-1), 'ms'],
    [() => constantBackoff(Number.NaN), 'ms'],
    [() => constantBackoff('5' as never), 'ms'],
    [() => constantBackoff(2 ** 31), 'ms'],
    [() => linearBackoff({ stepMs: -5 }), 'stepMs'],
    [() => linearBackoff({ maxMs: Number.POSITIVE_INFINITY }), 'maxMs'],
    [() => exponentialBackoff({ initialMs: -1 }), 'initialMs'],
    [() => exponentialBackoff({ factor: 0.5 }), 'factor'],
    [() => exponentialBackoff({ factor: Number.NaN }), 'factor'],
    [() => exponentialBackoff({ jitter: 'half' as never }), 'jitter'],
    [() => exponentialBackoff({ random: 3 as never }), 'random'],
    [() => exponentialBackoff({ intialMs: 5 } as never), 'intialMs'],
    [() => exponentialBackoff(null as never), 'exponentialBackoff options'],
  ])('bad configuration throws a ConfigError naming the option (%#)', (make, option) => {
    expect(make).toThrow(expect.objectContaining({ kind: 'config', option }));
  });

  it('property: every delay is finite, >= 0 and <= the cap, for any settings including 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100_000 }),
        fc.double({ min: 1, max: 10, noNaN: true }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.constantFrom('none', 'full', 'decorrelated' as const),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 80 }),
        (initialMs, factor, maxMs, jitter, r, n) => {
          // Decorrelated jitter takes no factor but its own (2).
          const growth = jitter === 'decorrelated' ? 2 : factor;
          const seq = exponentialBackoff({
            initialMs,
            factor: growth,
            maxMs,
            jitter,
            random: () => r,
          }).start();
          for (let i = 0; i < n; i++) {
            const d = seq.next();
            expect(Number.isFinite(d)).toBe(true);
            expect(d).toBeGreaterThanOrEqual(0);
            expect(d).toBeLessThanOrEqual(maxMs);
            if (initialMs === 0 || maxMs === 0) expect(d).toBe(0);
          }
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        (initialMs, stepMs, maxMs) => {
          for (const d of take(linearBackoff({ initialMs, stepMs, maxMs }), 50)) {
            expect(d).toBeGreaterThanOrEqual(0);
            expect(d).toBeLessThanOrEqual(maxMs);
          }
        },
      ),
    );
  });
});
