import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeHost } from './fakeHost.test-helpers.js';
import { LogLinearHistogram, RELATIVE_ERROR } from './LogLinearHistogram.js';
import { createPerformanceTracker } from './PerformanceTracker.js';
import type { PerformanceTracker } from './PerformanceTracker.js';
import type { RuntimeMetricsSource } from './runtimeMetrics.js';

const open: PerformanceTracker[] = [];
function tracker(host = fakeHost(), options: Parameters<typeof createPerformanceTracker>[1] = {}) {
  const t = createPerformanceTracker(host, { runtime: 'off', flushIntervalMs: 0, ...options });
  open.push(t);
  return { t, host };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('PerformanceTracker: timings and summaries', () => {
  it('sends one $metric_summary per series per flush, not one event per measurement', () => {
    const { t, host } = tracker();
    for (let i = 1; i <= 1000; i++) t.timing('db.query', i);
    t.timing('db.query', 5, { table: 'users' });
    expect(host.events).toHaveLength(0);
    host.clock.now += 60_000;
    t.flush();
    const summaries = host.named('$metric_summary');
    expect(summaries).toHaveLength(2);
    const plain = summaries.find((s) => s.tags === undefined)!;
    expect(plain).toMatchObject({
      metric: 'db.query',
      unit: 'ms',
      count: 1000,
      min: 1,
      max: 1000,
      interval_ms: 60_000,
    });
    expect(plain.p50).toBeCloseTo(500, -1);
    expect(Math.abs(plain.p99 - 990) / 990).toBeLessThanOrEqual(RELATIVE_ERROR);
    expect(plain.relative_error).toBe(RELATIVE_ERROR);
    expect(summaries.find((s) => s.tags !== undefined)).toMatchObject({ tags: { table: 'users' }, count: 1 });
  });

  it('resets the interval at each flush but keeps since-start figures for getSummary', () => {
    const { t, host } = tracker();
    t.timing('a', 10);
    t.flush();
    t.flush();
    expect(host.named('$metric_summary')).toHaveLength(1);
    t.timing('a', 30);
    t.flush();
    expect(host.named('$metric_summary')[1]).toMatchObject({ count: 1, min: 30, max: 30 });
    expect(t.getSummary('a')).toMatchObject({ count: 2, min: 10, max: 30, mean: 20 });
    expect(t.getSummary('missing')).toBeUndefined();
  });

  it('without lifetime summaries, getSummary covers the current interval only', () => {
    const { t } = tracker(undefined, { lifetimeSummaries: false });
    t.timing('a', 10);
    t.flush();
    expect(t.getSummary('a')).toBeUndefined();
    t.timing('a', 20);
    expect(t.getSummary('a')).toMatchObject({ count: 1, min: 20 });
  });

  it('answers percentiles within the stated bound of the exact ones', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 3000 }),
        (values) => {
          const { t } = tracker(undefined, { maxBins: 2048 });
          for (const v of values) t.timing('x', v);
          const s = t.getSummary('x')!;
          const sorted = [...values].sort((a, b) => a - b);
          for (const [q, got] of [
            [0.5, s.p50],
            [0.9, s.p90],
            [0.95, s.p95],
            [0.99, s.p99],
          ] as const) {
            const exact = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
            expect(Math.abs(got! - exact) / exact).toBeLessThanOrEqual(RELATIVE_ERROR * (1 + 1e-12));
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('files {a, b} and {b, a} under one series and splits by tag values', () => {
    const { t } = tracker();
    t.timing('http', 1, { method: 'GET', route: '/a' });
    t.timing('http', 2, { route: '/a', method: 'GET' });
    t.timing('http', 3, { route: '/b', method: 'GET' });
    expect(t.getSummary('http', { method: 'GET', route: '/a' })).toMatchObject({ count: 2 });
    expect(t.getSummary('http', { route: '/b', method: 'GET' })).toMatchObject({ count: 1 });
    expect(t.getSummary('http')).toMatchObject({ count: 3 });
    expect(t.getMemoryUsage().series).toBe(2);
  });

  it('notices a reused tag object that was changed since it was first seen', () => {
    const { t } = tracker();
    const tags: Record<string, string> = { route: '/a' };
    t.timing('http', 1, tags);
    tags.route = '/b';
    t.timing('http', 2, tags);
    tags.extra = 'x';
    t.timing('http', 3, tags);
    expect(t.getSummary('http', { route: '/a' })).toMatchObject({ count: 1, max: 1 });
    expect(t.getSummary('http', { route: '/b' })).toMatchObject({ count: 1, max: 2 });
    expect(t.getSummary('http', { route: '/b', extra: 'x' })).toMatchObject({ count: 1, max: 3 });
  });

  it('files a frozen tag object, reused, under its series', () => {
    const { t } = tracker();
    const tags = Object.freeze({ route: '/a' });
    for (let i = 0; i < 10; i++) t.timing('http', i, tags);
    t.timing('http', 1, Object.freeze({ route: '/b' }));
    expect(t.getSummary('http', { route: '/a' })).toMatchObject({ count: 10 });
    expect(t.getSummary('http', { route: '/b' })).toMatchObject({ count: 1 });
  });

  it('sends raw $performance events too when asked', () => {
    const { t, host } = tracker(undefined, { rawEvents: true });
    t.timing('a', 1.5, { k: 'v' });
    t.timing('a', Number.NaN);
    expect(host.named('$performance')).toEqual([
      { $kind: 'measurement', metric: 'a', value: 1.5, tags: { k: 'v' }, unit: 'ms' },
    ]);
  });

  it('attaches a mergeable histogram when asked', () => {
    const { t, host } = tracker(undefined, { includeHistogram: true });
    for (let i = 1; i <= 100; i++) t.timing('a', i);
    t.flush();
    const sent = host.named('$metric_summary')[0]!;
    const h = LogLinearHistogram.fromSparse(sent.histogram);
    expect(h.summary()).toMatchObject({ count: 100, p50: sent.p50, p99: sent.p99 });
  });
});

describe('PerformanceTracker: marks, measures and operations', () => {
  it('measures between marks and to now on its clock', () => {
    let now = 1000;
    const { t } = tracker(undefined, { clock: () => now });
    expect(t.mark('start')).toBe(1000);
    now = 1250;
    t.mark('end');
    expect(t.measure('work', 'start', 'end')).toBe(250);
    now = 2000;
    expect(t.measure('work', 'start')).toBe(1000);
    expect(t.getSummary('work')).toMatchObject({ count: 2, min: 250, max: 1000 });
  });

  it('answers undefined for unknown marks, an end before the start and bad names', () => {
    let now = 10;
    const { t } = tracker(undefined, { clock: () => now });
    t.mark('late');
    now = 5;
    t.mark('early');
    expect(t.measure('x', 'nope')).toBeUndefined();
    expect(t.measure('x', 'early', 'nope')).toBeUndefined();
    expect(t.measure('x', 'late', 'early')).toBeUndefined();
    expect(t.mark('' as never)).toBeUndefined();
    expect(t.mark(42 as never)).toBeUndefined();
    expect(t.getSummary('x')).toBeUndefined();
    expect(t.getStats().rejected).toMatchObject({ mark: 2, value: 1, name: 2 });
  });

  it('never throws from measure, even for mark names that cannot become text', () => {
    const { t } = tracker(undefined, { clock: () => 1 });
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    for (const bad of [
      Object.create(null),
      revoked.proxy,
      Symbol('m'),
      {
        toString: () => {
          throw new Error('x');
        },
      },
    ]) {
      expect(() => t.measure('m', bad as never)).not.toThrow();
      expect(t.measure('m', 'start', bad as never)).toBeUndefined();
    }
    t.mark('start');
    expect(t.measure('m', 'start')).toBe(0);
  });

  it('forgets the oldest mark past maxMarks', () => {
    const { t } = tracker(undefined, { maxMarks: 3, clock: () => 1 });
    for (const m of ['a', 'b', 'c', 'd']) t.mark(m);
    expect(t.measure('x', 'a')).toBeUndefined();
    expect(t.measure('x', 'b')).toBe(0);
    t.mark('b'); // re-marking makes it the newest
    t.mark('e');
    expect(t.measure('x', 'b')).toBe(0);
    expect(t.measure('x', 'c')).toBeUndefined();
  });

  it('aggregates each numeric field of an operation on its own, with its tags', () => {
    const { t, host } = tracker();
    t.trackOperation({ name: 'ai', durationMs: 280, apiCallMs: 200, tokens: 500, tags: { model: 'm1' } });
    t.trackOperation({ name: 'ai', durationMs: 120, apiCallMs: 90, tokens: 100, tags: { model: 'm1' } });
    t.trackOperation({
      name: 'ai',
      durationMs: 50,
      model: 'not-a-number',
      cost: Number.NaN,
      missing: undefined,
    } as never);
    t.trackOperation(null as never);
    t.trackOperation({ durationMs: 1 } as never);
    expect(t.getSummary('ai')).toMatchObject({ count: 3, max: 280, min: 50 });
    expect(t.getSummary('ai.tokens', { model: 'm1' })).toMatchObject({ count: 2, sum: 600 });
    expect(t.getSummary('ai.apiCallMs')).toMatchObject({ count: 2 });
    expect(t.getStats().rejected).toMatchObject({ field: 1, value: 1, name: 2 });
    t.flush();
    const units = Object.fromEntries(host.named('$metric_summary').map((s) => [s.metric, s.unit ?? null]));
    expect(units).toMatchObject({ ai: 'ms', 'ai.apiCallMs': 'ms', 'ai.tokens': null });
  });
});

describe('PerformanceTracker: lifecycle and platform metrics', () => {
  it("flushes every flushIntervalMs on an unref'd timer", () => {
    vi.useFakeTimers();
    const host = fakeHost();
    const t = createPerformanceTracker(host, { runtime: 'off', flushIntervalMs: 60_000 });
    open.push(t);
    t.timing('a', 1);
    vi.advanceTimersByTime(59_999);
    expect(host.named('$metric_summary')).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(host.named('$metric_summary')).toHaveLength(1);
    t.timing('a', 1);
    vi.advanceTimersByTime(60_000);
    expect(host.named('$metric_summary')).toHaveLength(2);
  });

  it('does not keep the process alive', () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const { t } = tracker(undefined, { flushIntervalMs: 1000 });
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    spy.mockRestore();
    expect(timer.hasRef()).toBe(false);
    void t;
  });

  it('close flushes what is left, stops, and ignores later measurements', async () => {
    const { t, host } = tracker(undefined, { flushIntervalMs: 1000 });
    t.timing('a', 1);
    await t.close();
    await t.close();
    t.timing('a', 2);
    t.mark('m');
    t.trackOperation({ name: 'op', durationMs: 1 });
    expect(host.named('$metric_summary')).toHaveLength(1);
    expect(t.getSummary('a')?.count).toBe(1);
  });

  it('sends what a runtime source collects at each flush, and closes it', async () => {
    const closed = vi.fn();
    const source: RuntimeMetricsSource = {
      collect: () => ({ gauge: 7 }),
      snapshot: () => ({ gauge: 7 }),
      close: closed,
    };
    const { t, host } = tracker(undefined, { runtime: () => source });
    await vi.waitFor(() => expect(t.getRuntimeMetrics()).toEqual({ gauge: 7 }));
    t.flush();
    expect(host.named('$performance')).toEqual([{ $kind: 'runtime', gauge: 7, interval_ms: 0 }]);
    await t.close();
    expect(closed).toHaveBeenCalledOnce();
  });

  it('lets a runtime source report events, and survives one that fails to start', async () => {
    const { t, host } = tracker(undefined, {
      runtime: (ctx) => {
        ctx.report('web_vital', { name: 'LCP', value: 1200 });
        return { close() {} };
      },
    });
    await vi.waitFor(() =>
      expect(host.named('$performance')).toEqual([{ $kind: 'web_vital', name: 'LCP', value: 1200 }]),
    );
    const failing = tracker(undefined, { runtime: () => Promise.reject(new Error('no perf_hooks')) });
    await vi.waitFor(() =>
      expect(failing.host.debug.some((d) => d.message.includes('unavailable'))).toBe(true),
    );
    failing.t.timing('a', 1);
    expect(failing.t.getSummary('a')?.count).toBe(1);
    void t;
  });

  it('closes a runtime source that finishes loading after close', async () => {
    let finish!: (s: RuntimeMetricsSource) => void;
    const closed = vi.fn();
    const { t } = tracker(undefined, { runtime: () => new Promise((resolve) => (finish = resolve)) });
    const closing = t.close();
    finish({ close: closed });
    await closing;
    expect(closed).toHaveBeenCalledOnce();
  });
});
