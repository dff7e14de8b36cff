import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeHost } from './fakeHost.test-helpers.js';
import { nodeRuntimeMetrics } from './nodeRuntimeMetrics.js';
import { createPerformanceTracker } from './PerformanceTracker.js';
import { runtimeName } from './runtimeMetrics.js';
import type { RuntimeMetricsContext } from './runtimeMetrics.js';
import { WEB_VITALS, webVitalsMetrics } from './webVitalsMetrics.js';
import type { WebVitalsModule } from './webVitalsMetrics.js';

const webVitalsLoaded = vi.hoisted(() => ({ value: false }));
vi.mock('web-vitals', async (original) => {
  webVitalsLoaded.value = true;
  return original();
});

function context(): RuntimeMetricsContext & { reports: [string, Record<string, unknown>][] } {
  const reports: [string, Record<string, unknown>][] = [];
  return {
    reports,
    report: (kind, properties) => void reports.push([kind, properties]),
    sampleIntervalMs: 1000,
    logger: { debug() {} },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('runtimeName', () => {
  it('tells a page from Node and from neither', () => {
    expect(runtimeName({ window: {}, document: {}, process: { versions: { node: '20' } } })).toBe('browser');
    expect(runtimeName({ process: { versions: { node: '20' } } })).toBe('node');
    expect(runtimeName({ window: {}, document: null })).toBe('other');
    expect(runtimeName({})).toBe('other');
    expect(runtimeName()).toBe('node');
  });
});

describe('nodeRuntimeMetrics', () => {
  it('reports event-loop delay, utilisation, heap and RSS from the real process', async () => {
    const source = await nodeRuntimeMetrics(context());
    // Give the loop something to measure: a few turns.
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 30));
    const out = source.collect!()!;
    expect(out.heap_used_bytes).toBeGreaterThan(0);
    expect(out.rss_bytes).toBeGreaterThan(0);
    expect(out.rss_peak_bytes).toBeGreaterThanOrEqual(out.rss_bytes as number);
    expect(out.event_loop_utilization).toBeGreaterThanOrEqual(0);
    expect(out.event_loop_utilization).toBeLessThanOrEqual(1);
    const delay = out.event_loop_delay_ms as Record<string, number> | null;
    if (delay !== null) {
      expect(delay.max).toBeGreaterThanOrEqual(delay.p50!);
      expect(delay.min).toBeGreaterThanOrEqual(0);
    }
    expect(source.snapshot!()).toHaveProperty('heap_used_bytes');
    source.close();
    source.close();
    expect(source.collect!()).toBeUndefined();
  });

  it('converts ns to ms, resets the delay histogram per interval and reports the peak memory', async () => {
    vi.useFakeTimers();
    // The sampler's histogram includes its resolution (20 ms by default): 20 ms more than the delay.
    const histogram = {
      count: 3,
      min: 21e6,
      mean: 22e6,
      max: 29e6,
      percentile: (p: number) => 20e6 + p * 1e5,
      enable: vi.fn(),
      disable: vi.fn(),
      reset: vi.fn(),
    };
    const perfHooks = {
      monitorEventLoopDelay: () => histogram,
      performance: {
        eventLoopUtilization: (a?: unknown, b?: unknown) =>
          a === undefined ? { utilization: 0 } : { utilization: 0.25, b },
      },
    };
    let rss = 100;
    const memoryUsage = () => ({ rss, heapUsed: rss / 2, heapTotal: rss, external: 1, arrayBuffers: 2 });
    const source = await nodeRuntimeMetrics(context(), { perfHooks: perfHooks as never, memoryUsage });
    expect(histogram.enable).toHaveBeenCalled();
    rss = 500;
    vi.advanceTimersByTime(1000);
    rss = 200;
    const out = source.collect!()!;
    expect(out).toMatchObject({
      event_loop_delay_ms: { min: 1, mean: 2, p50: 5, p90: 9, max: 9, count: 3 },
      event_loop_utilization: 0.25,
      rss_bytes: 200,
      rss_peak_bytes: 500,
      heap_used_peak_bytes: 250,
    });
    expect((out.event_loop_delay_ms as Record<string, number>).p99).toBeCloseTo(9.9);
    expect(histogram.reset).toHaveBeenCalledOnce();
    // The next interval's peak starts from the value at the last collect.
    expect(source.collect!()).toMatchObject({ rss_peak_bytes: 200 });
    source.close();
    expect(histogram.disable).toHaveBeenCalled();
  });

  it('reports the delay beyond the sampling resolution: an idle loop is 0, never negative', async () => {
    let resolution: number | undefined;
    const at = (ms: number) => ms * 1e6;
    // An idle loop with resolution 10: timers fire 10 ms apart, a little early or late.
    const histogram = {
      count: 50,
      min: at(9.8),
      mean: at(10.05),
      max: at(13),
      percentile: (p: number) => (p === 50 ? at(10) : p === 90 ? at(10.5) : at(12)),
      enable: vi.fn(),
      disable: vi.fn(),
      reset: vi.fn(),
    };
    const perfHooks = {
      monitorEventLoopDelay: (o: { resolution: number }) => ((resolution = o.resolution), histogram),
      performance: { eventLoopUtilization: () => ({ utilization: 0 }) },
    };
    const source = await nodeRuntimeMetrics(context(), { perfHooks: perfHooks as never, resolutionMs: 10 });
    expect(resolution).toBe(10);
    const delay = source.collect!()!.event_loop_delay_ms as Record<string, number>;
    expect(delay).toMatchObject({ min: 0, p50: 0, count: 50 });
    expect(delay.mean).toBeCloseTo(0.05);
    expect(delay.p90).toBeCloseTo(0.5);
    expect(delay.p99).toBeCloseTo(2);
    expect(delay.max).toBeCloseTo(3);
    source.close();
  });

  it('keeps going when a memory sample throws', async () => {
    vi.useFakeTimers();
    let fail = false;
    const debug = vi.fn();
    const source = await nodeRuntimeMetrics(
      { ...context(), logger: { debug } },
      {
        memoryUsage: () => {
          if (fail) throw new Error('EMFILE');
          return { rss: 1, heapUsed: 1, heapTotal: 1, external: 0, arrayBuffers: 0 };
        },
      },
    );
    fail = true;
    vi.advanceTimersByTime(1000);
    expect(debug).toHaveBeenCalled();
    fail = false;
    expect(source.collect!()).toMatchObject({ rss_bytes: 1 });
    source.close();
  });
});

describe('webVitalsMetrics', () => {
  function fakeVitals() {
    const callbacks = new Map<string, (m: any) => void>();
    const options = new Map<string, unknown>();
    const module = Object.fromEntries(
      WEB_VITALS.map((name) => [
        `on${name}`,
        (cb: (m: any) => void, o: unknown) => {
          callbacks.set(name, cb);
          options.set(name, o);
        },
      ]),
    ) as unknown as WebVitalsModule;
    return { module, callbacks, options };
  }

  it('subscribes to LCP, INP, CLS, FCP and TTFB (not FID) and sends each report', async () => {
    const vitals = fakeVitals();
    const ctx = context();
    const source = await webVitalsMetrics(ctx, { load: async () => vitals.module, reportAllChanges: true });
    expect([...vitals.callbacks.keys()].sort()).toEqual(['CLS', 'FCP', 'INP', 'LCP', 'TTFB']);
    expect(vitals.options.get('LCP')).toEqual({ reportAllChanges: true });
    vitals.callbacks.get('LCP')!({
      name: 'LCP',
      value: 1800,
      rating: 'good',
      delta: 1800,
      id: 'v1',
      navigationType: 'navigate',
    });
    vitals.callbacks.get('CLS')!({
      name: 'CLS',
      value: 0.12,
      rating: 'needs-improvement',
      delta: 0.02,
      id: 'v2',
      navigationType: 'navigate',
    });
    expect(ctx.reports).toEqual([
      [
        'web_vital',
        {
          name: 'LCP',
          value: 1800,
          rating: 'good',
          delta: 1800,
          id: 'v1',
          navigation_type: 'navigate',
          unit: 'ms',
        },
      ],
      [
        'web_vital',
        {
          name: 'CLS',
          value: 0.12,
          rating: 'needs-improvement',
          delta: 0.02,
          id: 'v2',
          navigation_type: 'navigate',
          unit: 'score',
        },
      ],
    ]);
    expect(source.snapshot!()).toEqual({
      LCP: { value: 1800, rating: 'good' },
      CLS: { value: 0.12, rating: 'needs-improvement' },
    });
    source.close();
    vitals.callbacks.get('INP')!({
      name: 'INP',
      value: 90,
      rating: 'good',
      delta: 90,
      id: 'v3',
      navigationType: 'navigate',
    });
    expect(ctx.reports).toHaveLength(2);
  });

  it('in Node, the auto runtime loads the Node adapter and never web-vitals', async () => {
    const host = fakeHost();
    const t = createPerformanceTracker(host, { flushIntervalMs: 0 });
    await vi.waitFor(() => expect(t.getRuntimeMetrics()).toHaveProperty('rss_bytes'));
    t.flush();
    expect(host.named('$performance')[0]).toMatchObject({ $kind: 'runtime' });
    expect(host.named('$performance')[0]).toHaveProperty('event_loop_utilization');
    await t.close();
    expect(webVitalsLoaded.value).toBe(false);
    // The mock itself works: importing it does flip the flag.
    await import('web-vitals');
    expect(webVitalsLoaded.value).toBe(true);
  });
});
