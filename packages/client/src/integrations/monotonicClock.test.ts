import { afterEach, describe, expect, it, vi } from 'vitest';
import { resolveTimingOptions } from './httpServerOptions.js';
import { monotonicClock } from './monotonicClock.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('monotonicClock', () => {
  it('reads performance.now()', () => {
    const now = monotonicClock();
    const before = performance.now();
    const value = now();
    const after = performance.now();
    expect(value).toBeGreaterThanOrEqual(before);
    expect(value).toBeLessThanOrEqual(after);
  });

  it('keeps the performance object found when made (no global lookup per reading)', () => {
    let readings = 0;
    vi.stubGlobal('performance', { now: () => ++readings * 10 });
    const now = monotonicClock();
    vi.unstubAllGlobals();
    expect(now()).toBe(10);
    expect(now()).toBe(20);
  });

  it('falls back to Date.now() without a performance object', () => {
    vi.stubGlobal('performance', undefined);
    const now = monotonicClock();
    const before = Date.now();
    const value = now();
    expect(value).toBeGreaterThanOrEqual(before);
    expect(value).toBeLessThanOrEqual(Date.now());
  });

  it('is the default clock of the HTTP server integrations', () => {
    vi.stubGlobal('performance', { now: () => 1234.5 });
    const { now } = resolveTimingOptions(undefined);
    vi.unstubAllGlobals();
    expect(now()).toBe(1234.5);
  });
});
