import type { RuntimeMetricsContext, RuntimeMetricsSource } from './runtimeMetrics.js';

// The members of Node's `perf_hooks` used here, declared locally: a type imported from
// 'node:perf_hooks' reached the browser entry's declarations, and a browser app without
// @types/node failed to compile them.
interface LoopDelayHistogram {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly max: number;
  percentile(percentile: number): number;
  enable(): boolean;
  disable(): boolean;
  reset(): void;
}

interface LoopUtilization {
  idle: number;
  active: number;
  utilization: number;
}

/** Node's `perf_hooks`, as far as it is used here. */
export interface PerfHooks {
  monitorEventLoopDelay(options?: { resolution?: number }): LoopDelayHistogram;
  performance: {
    eventLoopUtilization(current?: LoopUtilization, previous?: LoopUtilization): LoopUtilization;
  };
}

interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface NodeRuntimeOptions {
  /** `perf_hooks` to use; default Node's own. */
  perfHooks?: PerfHooks;
  /** Reads memory; default `process.memoryUsage()`. */
  memoryUsage?: () => MemorySample;
  /** Resolution of the event-loop delay sampler, ms. Default 20. */
  resolutionMs?: number;
}

/**
 * Node adapter: event-loop delay (`monitorEventLoopDelay`, a native histogram: nothing runs on
 * the loop to measure it), event-loop utilisation since the last flush, and heap / RSS sampled
 * every `sampleIntervalMs` by an unref'd timer, so each flush reports the peak, not only the
 * value at that moment. `collect()` answers the interval's figures and starts the next one.
 */
export async function nodeRuntimeMetrics(
  context: RuntimeMetricsContext,
  options: NodeRuntimeOptions = {},
): Promise<RuntimeMetricsSource> {
  const hooks = options.perfHooks ?? (await loadPerfHooks());
  const proc = (globalThis as any).process;
  const memoryUsage = options.memoryUsage ?? (() => proc.memoryUsage() as MemorySample);
  const resolutionMs = options.resolutionMs ?? 20;
  const delay = hooks.monitorEventLoopDelay({ resolution: resolutionMs });
  delay.enable();
  let lastElu = hooks.performance.eventLoopUtilization();
  let last = memoryUsage();
  let peakRss = last.rss;
  let peakHeap = last.heapUsed;
  const sample = (): void => {
    try {
      last = memoryUsage();
      if (last.rss > peakRss) peakRss = last.rss;
      if (last.heapUsed > peakHeap) peakHeap = last.heapUsed;
    } catch (error) {
      context.logger.debug('performance: memory sample failed', { error: String(error) });
    }
  };
  const timer = setInterval(sample, context.sampleIntervalMs);
  (timer as any).unref?.();
  let closed = false;

  const snapshot = (): Record<string, unknown> => ({
    heap_used_bytes: last.heapUsed,
    heap_total_bytes: last.heapTotal,
    rss_bytes: last.rss,
    external_bytes: last.external,
    array_buffers_bytes: last.arrayBuffers,
  });

  return {
    collect() {
      if (closed) return undefined;
      sample();
      const nowElu = hooks.performance.eventLoopUtilization();
      const elu = hooks.performance.eventLoopUtilization(nowElu, lastElu);
      lastElu = nowElu;
      // The histogram records how late each sampling timer fired measured from its start, so its
      // values include the timer's own period: Node's docs say they include `resolution`. An idle
      // loop would read ~20 ms. The delay reported is what lies beyond it, never below 0.
      const ms = (ns: number): number => Math.max(0, ns / 1e6 - resolutionMs);
      const loopDelay =
        delay.count > 0
          ? {
              min: ms(delay.min),
              mean: ms(delay.mean),
              p50: ms(delay.percentile(50)),
              p90: ms(delay.percentile(90)),
              p99: ms(delay.percentile(99)),
              max: ms(delay.max),
              count: delay.count,
            }
          : null;
      delay.reset();
      const out = {
        event_loop_delay_ms: loopDelay,
        event_loop_utilization: elu.utilization,
        ...snapshot(),
        rss_peak_bytes: peakRss,
        heap_used_peak_bytes: peakHeap,
      };
      peakRss = last.rss;
      peakHeap = last.heapUsed;
      return out;
    },
    snapshot,
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      delay.disable();
    },
  };
}

/** Node's perf_hooks, reached without a static import so a browser bundle never follows it. */
async function loadPerfHooks(): Promise<PerfHooks> {
  const proc = (globalThis as any).process;
  const builtin = proc?.getBuiltinModule?.('node:perf_hooks') as PerfHooks | undefined;
  if (builtin !== undefined) return builtin;
  const specifier = 'node:perf_hooks';
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as unknown as PerfHooks;
}
