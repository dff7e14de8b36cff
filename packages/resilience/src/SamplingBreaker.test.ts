import { describe, expect, it } from 'vitest';
import { SamplingBreaker } from './SamplingBreaker.js';

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('SamplingBreaker', () => {
  it('opens at the failure rate once the minimum throughput is reached', () => {
    const c = clock();
    const b = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 4, now: c.now });
    expect(b.failure()).toBe(false); // 1/1 but below throughput
    b.success();
    expect(b.failure()).toBe(false); // 2/3
    expect(b.failure()).toBe(true); // 3/4
  });

  it('threshold 1 opens only when every call failed', () => {
    const b = new SamplingBreaker({ threshold: 1, windowMs: 1000, minimumThroughput: 2, now: clock().now });
    b.success();
    expect(b.failure()).toBe(false);
    expect(b.failure()).toBe(false);
  });

  it('forgets calls as they leave the rolling window, bucket by bucket', () => {
    const c = clock();
    const b = new SamplingBreaker({
      threshold: 0.5,
      windowMs: 1000,
      buckets: 10,
      minimumThroughput: 1,
      now: c.now,
    });
    b.failure();
    b.failure();
    c.advance(500);
    b.success();
    expect(b.counts).toEqual({ calls: 3, failures: 2 });
    c.advance(500); // the first bucket leaves the window
    expect(b.counts).toEqual({ calls: 1, failures: 0 });
    c.advance(400);
    expect(b.counts).toEqual({ calls: 1, failures: 0 });
    c.advance(100);
    expect(b.counts).toEqual({ calls: 0, failures: 0 });
  });

  it('drops every stale bucket after an idle spell longer than the window', () => {
    const c = clock();
    const b = new SamplingBreaker({ threshold: 0.5, windowMs: 10_000, minimumThroughput: 3, now: c.now });
    b.failure();
    b.failure();
    c.advance(10 * 60_000);
    // cockatiel counted the two old failures here and opened on this one.
    expect(b.failure()).toBe(false);
    expect(b.counts).toEqual({ calls: 1, failures: 1 });
  });

  it('survives a clock that steps backwards', () => {
    const c = clock();
    const b = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now: c.now });
    b.success();
    c.advance(-5000);
    b.success();
    expect(b.counts.calls).toBe(2);
    c.advance(1000);
    expect(b.counts.calls).toBe(0);
  });

  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'skips a clock reading of %s and keeps ageing calls out',
    (bad) => {
      let t = 1_000_000;
      let broken = false;
      const now = (): number => (broken ? bad : t);
      const b = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now });
      b.failure();
      broken = true;
      b.failure();
      expect(b.counts).toEqual({ calls: 2, failures: 2 });
      const saved = JSON.parse(JSON.stringify(b.toJSON()));
      const copy = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now });
      copy.restore(saved, 'state');
      b.reset();
      broken = false;
      t += 3_600_000;
      expect(b.counts).toEqual({ calls: 0, failures: 0 });
      expect(copy.counts).toEqual({ calls: 0, failures: 0 });
      expect(Number.isFinite(b.toJSON().currentStart)).toBe(true);
    },
  );

  it('starts its window on the system clock when the first reading is not a time', () => {
    let t: number = Number.NaN;
    const b = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now: () => t });
    b.failure();
    t = 1_000_000;
    expect(b.counts).toEqual({ calls: 1, failures: 1 });
    t += 3_600_000;
    expect(b.counts).toEqual({ calls: 0, failures: 0 });
  });

  it('reset() forgets everything; toJSON/restore round-trips', () => {
    const c = clock();
    const b = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now: c.now });
    b.failure();
    b.success();
    const copy = new SamplingBreaker({ threshold: 0.5, windowMs: 1000, minimumThroughput: 1, now: c.now });
    copy.restore(JSON.parse(JSON.stringify(b.toJSON())), 'state');
    expect(copy.counts).toEqual({ calls: 2, failures: 1 });
    b.reset();
    expect(b.counts).toEqual({ calls: 0, failures: 0 });
    expect(() =>
      copy.restore({ kind: 'sampling', current: 0, currentStart: 0, successes: [1], failures: [] }, 's'),
    ).toThrow(expect.objectContaining({ option: 's.successes' }));
  });

  it.each([
    [{ threshold: 0 }, 'threshold'],
    [{ threshold: 1.01 }, 'threshold'],
    [{ threshold: Number.NaN }, 'threshold'],
    [{ threshold: '0.5' }, 'threshold'],
    [{ windowMs: -1 }, 'windowMs'],
    [{ windowMs: 5, buckets: 10 }, 'windowMs'],
    [{ minimumThroughput: 0 }, 'minimumThroughput'],
    [{ buckets: 0 }, 'buckets'],
    [{ buckets: 1e6 }, 'buckets'],
    [{ now: 5 }, 'now'],
  ])('bad configuration %j → ConfigError naming %s', (patch, option) => {
    expect(() => new SamplingBreaker({ threshold: 0.5, windowMs: 1000, ...patch } as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });
});
