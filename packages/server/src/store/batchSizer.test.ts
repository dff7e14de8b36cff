import { describe, expect, it } from 'vitest';
import { BATCH_MAX, BATCH_MIN, nextBatchSize } from './batchSizer.js';

// Pure arithmetic on given durations: no clock is read, so nothing here depends on the machine.
describe('nextBatchSize', () => {
  it('keeps a batch that took the target time', () => {
    expect(nextBatchSize(1000, 30)).toBe(1000);
    expect(nextBatchSize(400, 20, { targetMs: 20 })).toBe(400);
  });

  it('shrinks a slow batch in proportion, at once', () => {
    // 1000 events in 557 ms (the audit's retention batch on 2M events): about 53 next.
    expect(nextBatchSize(1000, 557)).toBe(53);
    expect(nextBatchSize(5000, 300, { targetMs: 30 })).toBe(500);
  });

  it('grows a fast batch at most twice per step', () => {
    expect(nextBatchSize(100, 1)).toBe(200);
    expect(nextBatchSize(100, 20)).toBe(150);
    // A clock that did not advance counts as fast.
    expect(nextBatchSize(100, 0)).toBe(200);
  });

  it('stays within min and max', () => {
    expect(nextBatchSize(100, 10_000)).toBe(BATCH_MIN);
    expect(nextBatchSize(4000, 1)).toBe(BATCH_MAX);
    expect(nextBatchSize(100, 10_000, { min: 10 })).toBe(10);
    expect(nextBatchSize(800, 1, { max: 1000 })).toBe(1000);
    expect(nextBatchSize(5, 1, { min: 1, max: 7 })).toBe(7);
  });

  it('starts at min from a size or duration that is not a number, and ignores nonsense options', () => {
    expect(nextBatchSize(Number.NaN, 10)).toBe(BATCH_MIN);
    expect(nextBatchSize(100, Number.POSITIVE_INFINITY)).toBe(BATCH_MIN);
    expect(nextBatchSize(0, 10)).toBe(BATCH_MIN);
    expect(nextBatchSize(1000, 30, { targetMs: -1, min: Number.NaN, max: 0 })).toBe(1000);
    // A max below min is min.
    expect(nextBatchSize(1000, 1, { min: 300, max: 100 })).toBe(300);
  });

  it('converges on the target when the cost per row is steady', () => {
    const costPerRow = 0.5; // ms
    let size: number = BATCH_MIN;
    for (let i = 0; i < 20; i++) size = nextBatchSize(size, size * costPerRow);
    expect(size).toBe(60);
  });
});
