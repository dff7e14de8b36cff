import { describe, expect, it } from 'vitest';
import { Sampler, SamplingOptionError } from './sampling.js';

describe('Sampler', () => {
  it('keeps everything by default', () => {
    expect(new Sampler().keep('x', 'u', 0)).toBe(true);
  });

  it('matches exact names before falling back, and globs', () => {
    const s = new Sampler({
      default: { kind: 'never' },
      rules: { 'perf.*': { kind: 'always' }, signup: { kind: 'always' } },
    });
    expect(s.keep('perf.load', 'u', 0)).toBe(true);
    expect(s.keep('signup', 'u', 0)).toBe(true);
    expect(s.keep('perfx', 'u', 0)).toBe(false);
    expect(s.keep('other', 'u', 0)).toBe(false);
  });

  it('deterministic sampling gives one answer per distinct_id and roughly the rate overall', () => {
    const s = new Sampler({ default: { kind: 'probabilistic', rate: 0.25, deterministic: true } });
    let kept = 0;
    for (let i = 0; i < 4000; i++) {
      const a = s.keep('e', `user-${i}`, 0);
      expect(s.keep('e', `user-${i}`, 0)).toBe(a);
      if (a) kept++;
    }
    expect(kept).toBeGreaterThan(800);
    expect(kept).toBeLessThan(1200);
  });

  it('deterministic sampling keeps or drops a user whole, across event names and rules of other rates', () => {
    const s = new Sampler({
      default: { kind: 'probabilistic', rate: 0.5, deterministic: true },
      rules: { 'rare.*': { kind: 'probabilistic', rate: 0.1, deterministic: true } },
    });
    let whole = 0;
    for (let i = 0; i < 500; i++) {
      const id = `user-${i}`;
      const answers = ['page', 'click', 'signup', 'error'].map((e) => s.keep(e, id, 0));
      expect(new Set(answers).size).toBe(1);
      // Kept at 10 % implies kept at 50 %: the user's point is under both rates.
      if (s.keep('rare.thing', id, 0)) {
        expect(answers[0]).toBe(true);
        whole++;
      }
    }
    expect(whole).toBeGreaterThan(20);
    expect(whole).toBeLessThan(90);
  });

  it('deterministic sampling keeps about the rate of sequential and similar ids too', () => {
    // Binomial: 4 standard deviations either side of n·rate. FNV-1a alone kept 49 of ids 1..1000
    // at 0.1 (-5.4 σ) and none at 0.01.
    const within = (kept: number, n: number, rate: number): boolean =>
      Math.abs(kept - n * rate) <= 4 * Math.sqrt(n * rate * (1 - rate));
    const families: [string, (i: number) => string, number][] = [
      ['1..N', (i) => String(i + 1), 1000],
      ['u_0..', (i) => `u_${i}`, 100_000],
      ['user-0..', (i) => `user-${i}`, 20_000],
    ];
    for (const rate of [0.01, 0.1, 0.25, 0.5]) {
      const s = new Sampler({ default: { kind: 'probabilistic', rate, deterministic: true } });
      for (const [name, id, n] of families) {
        let kept = 0;
        for (let i = 0; i < n; i++) if (s.keep('e', id(i), 0)) kept++;
        expect({ name, rate, ok: within(kept, n, rate), kept }).toMatchObject({ name, rate, ok: true });
      }
    }
  });

  it('throttling keeps a bounded number of windows when an app puts data in event names', () => {
    const s = new Sampler({ default: { kind: 'throttled', max: 1, windowMs: 1000 } });
    for (let i = 0; i < 50_000; i++) expect(s.keep(`order ${i} shipped`, 'u', 0)).toBe(true);
    const windows = (s as unknown as { windows: Map<string, unknown> }).windows;
    expect(windows.size).toBeLessThanOrEqual(10_000);
    // A name still within its window stays throttled; windows that ended are forgotten first.
    expect(s.keep('order 49999 shipped', 'u', 10)).toBe(false);
    expect(s.keep('fresh', 'u', 2000)).toBe(true);
    expect(s.keep('fresh', 'u', 2001)).toBe(false);
  });

  it('probabilistic uses the injected random source', () => {
    const s = new Sampler({ default: { kind: 'probabilistic', rate: 0.5 } }, () => 0.7);
    expect(s.keep('e', 'u', 0)).toBe(false);
  });

  it('throttles per event name per window', () => {
    const s = new Sampler({ rules: { 'perf.*': { kind: 'throttled', max: 2, windowMs: 1000 } } });
    expect([s.keep('perf.a', 'u', 0), s.keep('perf.a', 'u', 1), s.keep('perf.a', 'u', 2)]).toEqual([
      true,
      true,
      false,
    ]);
    expect(s.keep('perf.b', 'u', 2)).toBe(true);
    expect(s.keep('perf.a', 'u', 1000)).toBe(true);
  });

  it('starts a new throttling window when the clock steps back, rather than dropping for the step', () => {
    const DAY = 86_400_000;
    const s = new Sampler({ rules: { thr: { kind: 'throttled', max: 2, windowMs: 60_000 } } });
    const t = 1_700_000_000_000;
    expect([s.keep('thr', 'u', t), s.keep('thr', 'u', t), s.keep('thr', 'u', t)]).toEqual([
      true,
      true,
      false,
    ]);
    // A day back, then two minutes: the window of two minutes ago has ended in real time.
    expect([s.keep('thr', 'u', t - DAY + 120_000), s.keep('thr', 'u', t - DAY + 120_001)]).toEqual([
      true,
      true,
    ]);
    // The new window is throttled as any other.
    expect(s.keep('thr', 'u', t - DAY + 120_002)).toBe(false);
    expect(s.keep('thr', 'u', t - DAY + 180_000)).toBe(true);
  });

  it.each([
    [{ default: { kind: 'probabilistic', rate: 2 } }, 'sampling.default.rate'],
    [{ default: { kind: 'bogus' } }, 'sampling.default.kind'],
    [{ rules: { x: { kind: 'throttled', max: -1, windowMs: 1 } } }, 'sampling.rules["x"].max'],
    [{ rules: { x: { kind: 'throttled', max: 1, windowMs: 0 } } }, 'sampling.rules["x"].windowMs'],
    [{ rules: { x: null } }, 'sampling.rules["x"]'],
    [{ defualt: { kind: 'never' } }, 'sampling.defualt'],
    [{ default: { kind: 'probabilistic', rat: 0.5 } }, 'sampling.default.rat'],
    [
      { default: { kind: 'probabilistic', rate: 0.5, deterministic: 'yes' } },
      'sampling.default.deterministic',
    ],
    [{ rules: { x: { kind: 'throttled', max: 1, window: 5 } } }, 'sampling.rules["x"].window'],
    [{ rules: 'x' }, 'sampling.rules'],
    [[], 'sampling'],
  ])('rejects bad options with an error naming the option (%j)', (opts, option) => {
    try {
      new Sampler(opts as never);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SamplingOptionError);
      expect((e as SamplingOptionError).option).toBe(option);
    }
  });

  it.each([
    ['an array', [{ kind: 'never' }]],
    ['a Map', new Map([['x', { kind: 'never' }]])],
    ['a class instance', new (class Rules {})()],
  ])('refuses rules given as %s (an array became a rule for the event "0")', (_what, rules) => {
    expect(() => new Sampler({ rules } as never)).toThrow(SamplingOptionError);
    try {
      new Sampler({ rules } as never);
    } catch (e) {
      expect((e as SamplingOptionError).option).toBe('sampling.rules');
    }
    expect(
      () => new Sampler({ rules: Object.assign(Object.create(null), { x: { kind: 'never' } }) }),
    ).not.toThrow();
  });

  it('an exact name wins over any glob, then globs match in the order written', () => {
    const s = new Sampler({
      rules: {
        'page.*': { kind: 'never' },
        'page.404': { kind: 'always' },
        '*': { kind: 'never' },
        // Integer-like: JavaScript lists it first, whatever the order written.
        '2024': { kind: 'always' },
        'checkout.*': { kind: 'always' },
      },
    });
    expect(s.keep('page.404', 'u', 0)).toBe(true);
    expect(s.keep('page.home', 'u', 0)).toBe(false);
    expect(s.keep('2024', 'u', 0)).toBe(true);
    expect(s.keep('2025', 'u', 0)).toBe(false);
    // `*` was written before `checkout.*`: the first matching glob wins.
    expect(s.keep('checkout.done', 'u', 0)).toBe(false);
  });
});
