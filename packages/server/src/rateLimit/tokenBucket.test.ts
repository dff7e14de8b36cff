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

  it('charges a cost above the burst as the burst, and an empty batch as 1', () => {
    let now = 0;
    const b = new TokenBuckets({ ratePerSecond: 1, burst: 5, now: () => now });
    expect(b.take('a', 1_000_000)).toBe(0);
    expect(b.take('a', 0)).toBe(1);
    now = 1000;
    expect(b.take('a', 0)).toBe(0);
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
});
