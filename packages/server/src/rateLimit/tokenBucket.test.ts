import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBuckets } from './tokenBucket.js';

describe('TokenBuckets', () => {
  it('spends the burst, then refills at the rate, per key', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 10, burst: 20, now: () => now });
    expect(b.take('a', 20)).toBe(0);
    expect(b.take('a', 1)).toBe(1);
    expect(b.take('b', 20)).toBe(0);
    now = 500; // 5 tokens back
    expect(b.take('a', 5)).toBe(0);
    expect(b.take('a', 10)).toBe(1);
    now = 2500; // 20 more, capped at the burst
    expect(b.take('a', 20)).toBe(0);
  });

  it('answers how many seconds until the tokens are there, rounded up, at least 1', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 2, burst: 10, now: () => now });
    b.take('a', 10);
    expect(b.take('a', 7)).toBe(4);
    now = 100;
    expect(b.take('a', 1)).toBe(1);
  });

  it('charges a cost above the burst in full: it passes a full bucket only and leaves it in debt', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 1, burst: 5, now: () => now });
    expect(b.take('a', 5000)).toBe(0);
    // 4995 events of debt, then a full bucket for the next batch of 5000: 5000 s.
    expect(b.take('a', 5000)).toBe(5000);
    expect(b.take('a', 1)).toBe(4996);
    now = 4_999_000;
    expect(b.take('a', 5000)).toBe(1);
    now = 5_000_000;
    expect(b.take('a', 5000)).toBe(0);
    // An empty batch costs 1.
    expect(b.take('b', 5)).toBe(0);
    expect(b.take('b', 0)).toBe(1);
    now += 1000;
    expect(b.take('b', 0)).toBe(0);
  });

  it('never lets more than rate × time + burst events pass, a batch in debt aside, whatever the sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 20_000 })), {
          minLength: 1,
          maxLength: 200,
        }),
        fc.boolean(),
        (rate, burst, requests, obeysRetryAfter) => {
          let now = 0;
          const b = new TokenBuckets({ ratePerSecond: rate, burst, now: () => now });
          let admitted = 0;
          let largest = 0;
          for (const [gapMs, cost] of requests) {
            now += gapMs;
            const wait = b.take('k', cost);
            if (wait === 0) {
              admitted += Math.max(cost, 1);
              largest = Math.max(largest, cost);
            } else {
              expect(Number.isInteger(wait) && wait >= 1).toBe(true);
              if (obeysRetryAfter) now += wait * 1000;
            }
            // A batch larger than the burst may pass a full bucket, and its excess is the debt.
            expect(admitted).toBeLessThanOrEqual(
              burst + (rate * now) / 1000 + Math.max(0, largest - burst) + 1e-6,
            );
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('keeps a flood of batches far over the burst to the rate (the audit: 5000-event batches at 1/s, burst 5)', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 1, burst: 5, now: () => now });
    let admitted = 0;
    while (now < 100_000_000) {
      const wait = b.take('k', 5000);
      if (wait === 0) admitted += 5000;
      else now += wait * 1000;
    }
    // 100 000 s at 1 event/s, plus one batch of debt; the old bucket let 5000 through every 5 s.
    expect(admitted).toBeLessThanOrEqual(100_000 + 5000);
    expect(admitted).toBeGreaterThanOrEqual(100_000 - 5000);
  });

  it('answers the wait a refill rounded a hair short would give exactly (fast-check seed 915494619)', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 8, burst: 13, now: () => now });
    expect(b.take('k', 1169)).toBe(0);
    now += 1719;
    expect(b.take('k', 0)).toBe(143);
    now += 143_000;
    expect(b.take('k', 0)).toBe(0);
    // 0.752 + 0.531 × 8 leaves 4.99999999999995 tokens: 8 more, one second, fit 13.
    now += 531;
    expect(b.take('k', 13)).toBe(1);
    now += 1000;
    expect(b.take('k', 13)).toBe(0);
  });

  it('answers a wait that is honest: refused a second before it, let through once it has passed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 500 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 })), {
          minLength: 1,
          maxLength: 50,
        }),
        (rate, burst, requests) => {
          let now = 0;
          const b = new TokenBuckets({ ratePerSecond: rate, burst, now: () => now });
          for (const [gapMs, cost] of requests) {
            now += gapMs;
            const wait = b.take('k', cost);
            if (wait === 0) continue;
            if (wait > 1) {
              now += (wait - 1) * 1000;
              expect(b.take('k', cost)).toBeGreaterThan(0);
              now += 1000;
            } else {
              now += wait * 1000;
            }
            expect(b.take('k', cost)).toBe(0);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('gives back what a request was charged, up to the burst, and ignores keys it never charged', () => {
    const now = 0;
    const b = new TokenBuckets({ ratePerSecond: 1, burst: 10, now: () => now });
    expect(b.take('a', 8)).toBe(0);
    expect(b.take('a', 8)).toBe(6);
    b.giveBack('a', 8);
    expect(b.take('a', 10)).toBe(0);
    b.giveBack('a', 1_000_000);
    b.giveBack('a', 1_000_000);
    expect(b.take('a', 10)).toBe(0);
    expect(b.take('a', 1)).toBe(1);
    b.giveBack('never-charged', 5);
    expect(b.take('never-charged', 10)).toBe(0);
  });

  it('drops buckets that refilled to the burst (a removed project, one that stopped sending), and only those', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 1, burst: 10, now: () => now });
    for (let i = 0; i < 1000; i++) expect(b.take(`project-${i}`, 1)).toBe(0);
    expect(b.take('in-debt', 1000)).toBe(0);
    expect(b.size).toBe(1001);
    // A minute on: the 1 000 have refilled, the debt of 990 has not been paid back.
    now = 61_000;
    expect(b.take('active', 1)).toBe(0);
    expect(b.size).toBe(2);
    // A dropped bucket comes back full, as it would have been; the one in debt still waits.
    expect(b.take('project-0', 10)).toBe(0);
    expect(b.take('project-0', 1)).toBe(1);
    expect(b.take('in-debt', 1)).toBe(990 - 61 + 1);
  });
});
