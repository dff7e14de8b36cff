import { describe, expect, it } from 'vitest';
import { MetricRegistry } from './MetricRegistry.js';
import { performanceSettings } from './performanceOptions.js';

function registry(): MetricRegistry {
  return new MetricRegistry(performanceSettings({ runtime: 'off', flushIntervalMs: 0 }));
}

/** Each series' metric, tags (as JSON) and count, from one collect(). */
function counts(r: MetricRegistry): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { series, summary } of r.collect()) {
    out[`${series.metric} ${JSON.stringify(series.tags ?? null)}`] = summary.count;
  }
  return out;
}

describe('MetricRegistry: the shortcuts of record', () => {
  it('files each measurement under its own metric when metrics are recorded in turn', () => {
    const r = registry();
    const tags = Object.freeze({ route: '/a' });
    for (let i = 0; i < 3; i++) {
      r.record('http', 1, tags, 'ms');
      r.record('db', 2, tags, 'ms');
      r.record('http', 3, undefined, 'ms');
    }
    expect(counts(r)).toEqual({
      'http {"route":"/a"}': 3,
      'db {"route":"/a"}': 3,
      'http null': 3,
    });
  });

  it('a rejected metric name does not take the place of the last metric', () => {
    const r = registry();
    r.record('http', 1, undefined, 'ms');
    expect(r.record('', 1, undefined, 'ms')).toBeUndefined();
    expect(r.record(42, 1, undefined, 'ms')).toBeUndefined();
    r.record('http', 2, undefined, 'ms');
    expect(counts(r)).toEqual({ 'http null': 2 });
    expect(r.rejected.name).toBe(2);
  });

  it('records into the series of each tag object, alternated, repeated or changed', () => {
    const r = registry();
    const a = Object.freeze({ route: '/a', status: '200' });
    const b = Object.freeze({ route: '/b', status: '200' });
    const mutable: Record<string, string> = { route: '/a', status: '200' };
    const answers = [a, b, a, a, b, mutable].map((tags) => r.record('http', 5, tags, 'ms'));
    // The same series object for the same tags, whichever path found it.
    expect(answers[2]).toBe(answers[0]);
    expect(answers[3]).toBe(answers[0]);
    expect(answers[4]).toBe(answers[1]);
    expect(answers[5]).toBe(answers[0]);
    mutable['route'] = '/c';
    r.record('http', 7, mutable, 'ms');
    r.record('http', 9, mutable, 'ms');
    expect(counts(r)).toEqual({
      'http {"route":"/a","status":"200"}': 4,
      'http {"route":"/b","status":"200"}': 2,
      'http {"route":"/c","status":"200"}': 2,
    });
    expect(r.recorded).toBe(8);
  });

  it('the value reaches the histogram of the series answered (min, max and sum)', () => {
    const r = registry();
    const a = Object.freeze({ route: '/a' });
    const b = Object.freeze({ route: '/b' });
    for (const [tags, ms] of [
      [a, 1],
      [b, 100],
      [a, 3],
      [a, 2],
      [b, 300],
    ] as const) {
      r.record('http', ms, tags, 'ms');
    }
    const byRoute = Object.fromEntries(r.collect().map((c) => [c.series.tags!['route'], c.summary]));
    expect(byRoute['/a']).toMatchObject({ count: 3, min: 1, max: 3, sum: 6 });
    expect(byRoute['/b']).toMatchObject({ count: 2, min: 100, max: 300, sum: 400 });
  });
});
