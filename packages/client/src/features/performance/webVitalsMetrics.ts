import type { RuntimeMetricsContext, RuntimeMetricsSource } from './runtimeMetrics.js';

/** The Core Web Vitals reported: INP replaced FID in 2024, so FID is not among them. */
export const WEB_VITALS = ['LCP', 'INP', 'CLS', 'FCP', 'TTFB'] as const;
export type WebVitalName = (typeof WEB_VITALS)[number];

export interface WebVitalsOptions {
  /** Report every change of a vital (e.g. each larger LCP), not only its final value. Default false. */
  reportAllChanges?: boolean;
  /** The module to take the `on*` functions from; default a dynamic `import('web-vitals')`. */
  load?: () => Promise<WebVitalsModule>;
}

interface VitalMetric {
  name: string;
  value: number;
  rating: string;
  delta: number;
  id: string;
  navigationType: string;
}

type OnVital = (callback: (metric: VitalMetric) => void, options?: { reportAllChanges?: boolean }) => void;

export interface WebVitalsModule {
  onLCP: OnVital;
  onINP: OnVital;
  onCLS: OnVital;
  onFCP: OnVital;
  onTTFB: OnVital;
}

/**
 * Browser adapter: each vital `web-vitals` reports goes out at once as a `$performance` event
 * of kind 'web_vital' (a page has one LCP, not a stream, so it is not summarised), and the
 * latest value of each is kept for `getRuntimeMetrics()`. web-vitals has no unsubscribe:
 * after `close()` its callbacks are ignored.
 */
export function webVitalsMetrics(
  context: RuntimeMetricsContext,
  options: WebVitalsOptions = {},
): Promise<RuntimeMetricsSource> {
  const latest: Record<string, unknown> = {};
  let closed = false;
  const load = options.load ?? (() => import('web-vitals') as Promise<WebVitalsModule>);
  return load().then((vitals) => {
    const onReport = (metric: VitalMetric): void => {
      if (closed) return;
      latest[metric.name] = { value: metric.value, rating: metric.rating };
      context.report('web_vital', {
        name: metric.name,
        value: metric.value,
        rating: metric.rating,
        delta: metric.delta,
        id: metric.id,
        navigation_type: metric.navigationType,
        unit: metric.name === 'CLS' ? 'score' : 'ms',
      });
    };
    const subscribeOptions = { reportAllChanges: options.reportAllChanges ?? false };
    for (const name of WEB_VITALS) vitals[`on${name}`](onReport, subscribeOptions);
    return {
      snapshot: () => ({ ...latest }),
      close() {
        closed = true;
      },
    };
  });
}
