import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeHost } from './fakeHost.test-helpers.js';
import { OVERFLOW_METRIC } from './MetricRegistry.js';
import { PerformanceOptionError } from './errors.js';
import { createPerformanceTracker } from './PerformanceTracker.js';
import type { PerformanceTracker } from './PerformanceTracker.js';

const open: PerformanceTracker[] = [];
function tracker(host = fakeHost(), options: Parameters<typeof createPerformanceTracker>[1] = {}) {
  const t = createPerformanceTracker(host, { runtime: 'off', flushIntervalMs: 0, ...options });
  open.push(t);
  return { t, host };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('PerformanceTracker: bad input', () => {
  it('rejects bad values and names without throwing, and records nothing for them', () => {
    const { t, host } = tracker();
    const badValues = [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -1,
      -0.001,
      1e300,
      '5',
      null,
      undefined,
      {},
      10n,
    ];
    for (const v of badValues) t.timing('a', v as never);
    const badNames = [undefined, null, 1, {}, [], Symbol('s'), '', 'x'.repeat(201), () => 1];
    for (const n of badNames) t.timing(n as never, 1);
    const badTags = [
      null,
      'x',
      1,
      [],
      { nested: { a: 1 } },
      { n: Number.NaN },
      { f: () => 1 },
      { ['k'.repeat(300)]: 'v' },
      Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`t${i}`, i])),
    ];
    for (const tags of badTags) t.timing('b', 1, tags as never);
    t.timing('c', 1);
    for (const tags of badTags.slice(1)) t.timing('c', 1, tags as never);
    t.flush();
    expect(t.getStats().rejected).toMatchObject({
      value: badValues.length,
      name: badNames.length,
      tags: badTags.length * 2 - 1,
    });
    expect(host.named('$metric_summary').map((s) => [s.metric, s.count])).toEqual([['c', 1]]);
    // One debug line per reason, not one per call.
    expect(host.debug.filter((d) => d.message.includes('rejected'))).toHaveLength(3);
  });

  it('never throws on tags or operations whose getters or Proxy traps throw; records nothing of them, counts them', () => {
    const { t, host } = tracker();
    const getter = () => ({
      get x(): string {
        throw new Error('getter');
      },
    });
    const trap = () =>
      new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('trap');
          },
        },
      );
    // New metric, known metric, known metric with a cached tag object that turns bad.
    expect(() => t.timing('fresh', 5, getter() as never)).not.toThrow();
    t.timing('known', 1);
    expect(() => t.timing('known', 5, getter() as never)).not.toThrow();
    expect(() => t.timing('known', 5, trap() as never)).not.toThrow();
    let bad = false;
    const flaky = {
      get x() {
        if (bad) throw new Error('now it throws');
        return 'a';
      },
    };
    t.timing('known', 2, flaky);
    bad = true;
    expect(() => t.timing('known', 3, flaky)).not.toThrow();
    expect(() =>
      t.trackOperation({
        name: 'op',
        durationMs: 10,
        tokens: 5,
        get bytes(): number {
          throw new Error('getter');
        },
      }),
    ).not.toThrow();
    expect(() => t.trackOperation(trap() as never)).not.toThrow();
    expect(() => t.trackOperation({ name: 'op', durationMs: 10, tags: getter() as never })).not.toThrow();
    expect(() => t.getSummary('known', getter() as never)).not.toThrow();
    expect(() => t.getSummary('known', trap() as never)).not.toThrow();
    expect(t.getSummary('known', getter() as never)).toBeUndefined();

    // Nothing of the bad calls was recorded, not even part of an operation.
    expect(t.getSummary('fresh')).toBeUndefined();
    expect(t.getSummary('op')).toBeUndefined();
    expect(t.getSummary('op.tokens')).toBeUndefined();
    expect(t.getSummary('known')).toMatchObject({ count: 2, sum: 3 });
    expect(t.getMemoryUsage().metrics).toBe(1);
    expect(t.getStats().rejected).toMatchObject({ tags: 5, field: 2 });
    t.flush();
    expect(host.named('$metric_summary').map((e) => e.metric)).toEqual(['known', 'known']);
  });

  it('accepts 0, huge-but-safe values and undefined tag values', () => {
    const { t } = tracker();
    t.timing('a', 0);
    t.timing('a', Number.MAX_SAFE_INTEGER);
    t.timing('a', 1, { skipped: undefined, kept: true });
    expect(t.getSummary('a')).toMatchObject({ count: 3, min: 0, max: Number.MAX_SAFE_INTEGER });
    expect(t.getSummary('a', { kept: true })).toMatchObject({ count: 1 });
  });

  it('keeps unbounded name cardinality bounded: extra names go to $overflow', () => {
    const { t, host } = tracker(undefined, { maxMetrics: 50, maxSeries: 60 });
    for (let i = 0; i < 10_000; i++) t.timing(`request.${i}`, i % 100);
    const memory = t.getMemoryUsage();
    expect(memory.metrics).toBe(50);
    expect(memory.series).toBe(51);
    expect(memory.bytes).toBeLessThanOrEqual(memory.maxBytes);
    expect(t.getStats().overflowed).toBe(10_000 - 50);
    t.flush();
    const overflow = host.named('$metric_summary').find((s) => s.metric === OVERFLOW_METRIC);
    expect(overflow?.count).toBe(10_000 - 50);
  });

  it('keeps tag cardinality bounded per metric and in all', () => {
    const { t, host } = tracker(undefined, { maxSeriesPerMetric: 5, maxSeries: 12 });
    for (let i = 0; i < 1000; i++) t.timing('http', 1, { user: `u${i}` });
    for (let i = 0; i < 1000; i++) t.timing('rpc', 1, { user: `u${i}` });
    for (let i = 0; i < 1000; i++) t.timing('cache', 1, { user: `u${i}` });
    t.flush();
    const sent = host.named('$metric_summary');
    const count = (metric: string, overflow: boolean) =>
      sent
        .filter((s) => s.metric === metric && (s.tags?.$overflow === 'true') === overflow)
        .reduce((n, s) => n + s.count, 0);
    expect(count('http', false)).toBe(5);
    expect(count('http', true)).toBe(995);
    expect(count('rpc', true)).toBe(995);
    // The series budget (12) is spent by http and rpc (5 + 1 overflow each) before cache gets any.
    expect(sent.filter((s) => s.metric === 'cache')).toHaveLength(0);
    expect(sent.find((s) => s.metric === OVERFLOW_METRIC)?.count).toBe(1000);
    expect(t.getMemoryUsage().series).toBeLessThanOrEqual(13);
  });

  it('throws a PerformanceOptionError naming each bad option', () => {
    const host = fakeHost();
    const bad: [string, unknown][] = [
      ['flushIntervalMs', -1],
      ['flushIntervalMs', Number.NaN],
      ['flushIntervalMs', 2 ** 31],
      ['maxMetrics', 0],
      ['maxMetrics', 1.5],
      ['maxSeries', '10'],
      ['maxSeriesPerMetric', 1000],
      ['maxBins', 10],
      ['maxTags', -1],
      ['maxMarks', 0],
      ['rawEvents', 'yes'],
      ['runtime', 'node'],
      ['runtimeSampleIntervalMs', 0],
      ['clock', 5],
      ['flushEveryMs', 1],
    ];
    for (const [option, value] of bad) {
      const attempt = () => createPerformanceTracker(host, { runtime: 'off', [option]: value } as never);
      expect(attempt).toThrow(PerformanceOptionError);
      try {
        attempt();
      } catch (error) {
        expect((error as PerformanceOptionError).option).toBe(option);
        expect((error as PerformanceOptionError).kind).toBe('invalid-option');
      }
    }
    expect(() => createPerformanceTracker(host, null as never)).toThrow(PerformanceOptionError);
    expect(() => createPerformanceTracker({} as never)).toThrow(PerformanceOptionError);
  });

  it('keeps working when the host throws from track', () => {
    const host = fakeHost();
    host.track = () => {
      throw new Error('host bug');
    };
    const { t } = tracker(host);
    t.timing('a', 1);
    expect(() => t.flush()).not.toThrow();
    t.timing('a', 2);
    expect(t.getSummary('a')?.count).toBe(2);
  });

  it('never throws out of flush, its timer or getRuntimeMetrics when a runtime source of the app throws', async () => {
    vi.useFakeTimers();
    try {
      const host = fakeHost();
      const failing = () => {
        throw new Error('source failed');
      };
      const t = createPerformanceTracker(host, {
        flushIntervalMs: 1_000,
        runtime: () => ({ collect: failing, snapshot: failing, close: failing }),
      });
      open.push(t);
      await vi.advanceTimersByTimeAsync(0); // the source loads
      t.timing('a', 5);
      expect(t.getRuntimeMetrics()).toEqual({});
      // The timer's flush: an exception there would be uncaught, and end the process.
      await vi.advanceTimersByTimeAsync(1_000);
      expect(() => t.flush()).not.toThrow();
      expect(host.named('$metric_summary').map((s) => [s.metric, s.count])).toEqual([['a', 1]]);
      expect(host.named('$performance')).toEqual([]);
      await expect(t.close()).resolves.toBeUndefined();
      expect(host.debug.filter((d) => String(d.details?.['error']).includes('source failed')).length).toBe(
        5, // snapshot, two collects, close's flush and close
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it.each([
    [
      'throws',
      (): number => {
        throw new Error('clock broke');
      },
    ],
    ['answers NaN', () => Number.NaN],
    ['answers a time no Date holds', () => 1e300],
  ])(
    'never throws out of flush or its timer when the host clock %s, and sends a valid interval_start',
    async (_, now) => {
      vi.useFakeTimers();
      try {
        const host = fakeHost();
        const t = createPerformanceTracker(host, { runtime: 'off', flushIntervalMs: 1_000 });
        open.push(t);
        host.now = now;
        t.timing('a', 5);
        await vi.advanceTimersByTimeAsync(1_000);
        t.timing('a', 6);
        expect(() => t.flush()).not.toThrow();
        const sent = host.named('$metric_summary');
        expect(sent.map((s) => s.count)).toEqual([1, 1]);
        for (const s of sent) expect(Number.isNaN(Date.parse(s.interval_start))).toBe(false);
        expect(host.debug.some((d) => d.message.includes('host.now'))).toBe(true);
      } finally {
        vi.useRealTimers();
      }
    },
  );

  it('never throws out of mark when the clock option throws', () => {
    const { t } = tracker(undefined, {
      clock: () => {
        throw new Error('clock broke');
      },
    });
    expect(t.mark('start')).toBeUndefined();
  });
});
