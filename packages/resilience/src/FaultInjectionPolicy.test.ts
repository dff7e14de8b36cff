import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.js';
import { ConfigError, FaultInjectedError, FaultInjectionRefusedError, TaskTimeoutError } from './errors.js';
import { faultInjection, FaultInjectionPolicy } from './FaultInjectionPolicy.js';
import { retry } from './RetryPolicy.js';
import { timeout } from './TimeoutPolicy.js';
import { transpiledPackage } from './transpiledPackage.test-helpers.js';
import { wrap } from './wrap.js';

const DEV = { NODE_ENV: 'test' };

/** A seeded PRNG (mulberry32), so rate tests are repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns the given draws in order, and fails the test if more are asked for. */
function scripted(...draws: number[]): () => number {
  return () => {
    const next = draws.shift();
    if (next === undefined) throw new Error('random() called more often than scripted');
    return next;
  };
}

/** Settles `promise` into a plain result without waiting for it. */
function track<T>(promise: Promise<T>): {
  state: 'pending' | 'resolved' | 'rejected';
  value?: T;
  error?: unknown;
} {
  const box: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = {
    state: 'pending',
  };
  promise.then(
    (value) => Object.assign(box, { state: 'resolved', value }),
    (error: unknown) => Object.assign(box, { state: 'rejected', error }),
  );
  return box;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('faultInjection: what it injects', () => {
  it('passes calls through when no fault is configured, with a context', async () => {
    const policy = faultInjection({ env: DEV });
    const result = await policy.execute((ctx) => {
      expect(ctx.attempt).toBe(0);
      expect(ctx.signal.aborted).toBe(false);
      return 42;
    });
    expect(result).toBe(42);
    expect(policy.stats).toEqual({ calls: 1, delayed: 0, delayMs: 0, errors: 0, drops: 0, passedThrough: 1 });
  });

  it("hands the caller's signal to the function", async () => {
    const controller = new AbortController();
    const policy = faultInjection({ env: DEV });
    await policy.execute((ctx) => expect(ctx.signal).toBe(controller.signal), controller.signal);
  });

  it('throws a FaultInjectedError without running the function', async () => {
    const fn = vi.fn(() => 'ran');
    const policy = faultInjection({ errors: { rate: 0.5 }, random: scripted(0.49, 0.5), env: DEV });
    await expect(policy.execute(fn)).rejects.toBeInstanceOf(FaultInjectedError);
    expect(fn).not.toHaveBeenCalled();
    await expect(policy.execute(fn)).resolves.toBe('ran');
    expect(policy.stats).toMatchObject({ calls: 2, errors: 1, passedThrough: 1 });
  });

  it('throws the error the factory makes', async () => {
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    const policy = faultInjection({ errors: { rate: 1, error: () => reset }, env: DEV });
    await expect(policy.execute(() => 1)).rejects.toBe(reset);
  });

  it('FaultInjectedError has its kind', () => {
    const error = new FaultInjectedError();
    expect(error.kind).toBe('fault-injected');
    expect(error.name).toBe('FaultInjectedError');
  });

  it('delays a call by a fixed latency, then runs it', async () => {
    vi.useFakeTimers();
    const policy = faultInjection({ latency: { rate: 1, ms: 100 }, random: scripted(0.3), env: DEV });
    const call = track(policy.execute(() => 'done'));
    await vi.advanceTimersByTimeAsync(99);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call).toEqual({ state: 'resolved', value: 'done' });
    expect(policy.stats).toMatchObject({ delayed: 1, delayMs: 100, passedThrough: 1 });
  });

  it('picks a ranged latency from its draw', async () => {
    vi.useFakeTimers();
    // First draw decides to delay, the second picks 100 + 0.25 × 300 = 175 ms.
    const policy = faultInjection({
      latency: { rate: 0.5, ms: [100, 400] },
      random: scripted(0.1, 0.25),
      env: DEV,
    });
    const call = track(policy.execute(() => 'done'));
    await vi.advanceTimersByTimeAsync(174);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call.state).toBe('resolved');
    expect(policy.stats.delayMs).toBe(175);
  });

  it('reads a draw outside [0, 1) or NaN from a broken random as 0', async () => {
    vi.useFakeTimers();
    // Each call: a draw to delay (0 → yes), then a broken draw for the length → minMs.
    const policy = faultInjection({
      latency: { rate: 1, ms: [100, 2 ** 31 - 1] },
      random: scripted(0, 1.5, 0, Number.NaN, 0, -0.5, 0, 1),
      env: DEV,
    });
    for (let i = 0; i < 4; i++) {
      const call = track(policy.execute(() => 'done'));
      await vi.advanceTimersByTimeAsync(99);
      expect(call.state).toBe('pending');
      await vi.advanceTimersByTimeAsync(1);
      expect(call.state).toBe('resolved');
    }
    expect(policy.stats).toMatchObject({ delayed: 4, delayMs: 400, passedThrough: 4 });
  });

  it('aborts a latency sleep at once with the signal reason, and clears its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const fn = vi.fn();
    const policy = faultInjection({ latency: { rate: 1, ms: 60_000 }, env: DEV });
    const call = track(policy.execute(fn, controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await vi.advanceTimersByTimeAsync(0);
    expect(call).toEqual({ state: 'rejected', error: reason });
    expect(vi.getTimerCount()).toBe(0);
    expect(fn).not.toHaveBeenCalled();
  });

  it('rejects at once when the signal is already aborted', async () => {
    const fn = vi.fn();
    const policy = faultInjection({ latency: { rate: 1, ms: 1000 }, env: DEV });
    await expect(policy.execute(fn, AbortSignal.abort('gone'))).rejects.toBe('gone');
    expect(fn).not.toHaveBeenCalled();
  });

  it('drops a call: it never settles until the signal aborts, then rejects like fetch', async () => {
    const controller = new AbortController();
    const fn = vi.fn();
    const policy = faultInjection({ drops: { rate: 0.2 }, random: scripted(0.1), env: DEV });
    const call = track(policy.execute(fn, controller.signal));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(call.state).toBe('pending');
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(call.state).toBe('rejected');
    expect((call.error as DOMException).name).toBe('AbortError');
    expect(fn).not.toHaveBeenCalled();
    expect(policy.stats.drops).toBe(1);
  });

  it('holds the process open while a dropped call can still be aborted, and lets go after', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const policy = faultInjection({ drops: { rate: 1 }, env: DEV });
    const dropped = track(policy.execute(() => 1, controller.signal));
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(dropped.state).toBe('rejected');
    expect(vi.getTimerCount()).toBe(0);
    // Without a signal nothing could release it, so nothing is held.
    void policy.execute(() => 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('draws in the documented order: latency, drop, error', async () => {
    vi.useFakeTimers();
    const all = { latency: { rate: 0.5, ms: 10 }, drops: { rate: 0.5 }, errors: { rate: 0.5 }, env: DEV };
    // Delayed, not dropped, failed.
    const failing = faultInjection({ ...all, random: scripted(0.1, 0.9, 0.1) });
    const failed = track(failing.execute(() => 1));
    await vi.advanceTimersByTimeAsync(10);
    expect(failed.error).toBeInstanceOf(FaultInjectedError);
    expect(failing.stats).toMatchObject({ delayed: 1, drops: 0, errors: 1, passedThrough: 0 });
    // Not delayed, dropped (no error draw is made: scripted() would throw).
    const dropping = faultInjection({ ...all, random: scripted(0.9, 0.1) });
    const controller = new AbortController();
    const dropped = track(dropping.execute(() => 1, controller.signal));
    await vi.advanceTimersByTimeAsync(1000);
    expect(dropped.state).toBe('pending');
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(dropped.state).toBe('rejected');
    expect(dropping.stats).toMatchObject({ delayed: 0, drops: 1, errors: 0, passedThrough: 0 });
  });

  it('injects at the configured rates with a seeded random', async () => {
    const policy = faultInjection({ errors: { rate: 0.3 }, random: seeded(42), env: DEV });
    const n = 5000;
    for (let i = 0; i < n; i++) await policy.execute(() => undefined).catch(() => undefined);
    const { errors, passedThrough, calls } = policy.stats;
    expect(calls).toBe(n);
    expect(errors + passedThrough).toBe(n);
    expect(errors / n).toBeGreaterThan(0.27);
    expect(errors / n).toBeLessThan(0.33);
  });

  it('the same seed injects the same faults', async () => {
    const outcomes = async (): Promise<string[]> => {
      const policy = faultInjection({ errors: { rate: 0.5 }, random: seeded(7), env: DEV });
      const seen: string[] = [];
      for (let i = 0; i < 50; i++) {
        seen.push(await policy.execute(() => 'ok').catch(() => 'fault'));
      }
      return seen;
    };
    const first = await outcomes();
    expect(first).toContain('ok');
    expect(first).toContain('fault');
    expect(await outcomes()).toEqual(first);
  });

  it('rate 0 never injects, rate 1 always does', async () => {
    const never = faultInjection({
      errors: { rate: 0 },
      drops: { rate: 0 },
      latency: { rate: 0, ms: 5 },
      env: DEV,
    });
    const always = faultInjection({ errors: { rate: 1 }, random: () => 0.999999, env: DEV });
    for (let i = 0; i < 100; i++) {
      await never.execute(() => 1);
      await always.execute(() => 1).catch(() => undefined);
    }
    expect(never.stats).toMatchObject({ passedThrough: 100, errors: 0, drops: 0, delayed: 0 });
    expect(always.stats).toMatchObject({ passedThrough: 0, errors: 100 });
  });

  it('resetStats() starts counting again', async () => {
    const policy = faultInjection({ errors: { rate: 1 }, env: DEV });
    await policy.execute(() => 1).catch(() => undefined);
    policy.resetStats();
    expect(policy.stats).toEqual({ calls: 0, delayed: 0, delayMs: 0, errors: 0, drops: 0, passedThrough: 0 });
  });

  it("propagates the function's own error and result untouched", async () => {
    const policy = faultInjection({ env: DEV });
    const own = new Error('mine');
    await expect(
      policy.execute(() => {
        throw own;
      }),
    ).rejects.toBe(own);
    await expect(policy.execute(async () => 'async')).resolves.toBe('async');
  });
});

describe('faultInjection: production guard', () => {
  it('refuses NODE_ENV=production unless forced', () => {
    expect(() => faultInjection({ errors: { rate: 1 }, env: { NODE_ENV: 'production' } })).toThrow(
      FaultInjectionRefusedError,
    );
    expect(() => new FaultInjectionPolicy({ env: { NODE_ENV: 'production' } })).toThrow(
      expect.objectContaining({ kind: 'fault-injection-refused' }),
    );
    expect(() => faultInjection({ env: { NODE_ENV: 'production' }, force: true })).not.toThrow();
    expect(() => faultInjection({ env: { NODE_ENV: 'production' }, force: false })).toThrow(
      FaultInjectionRefusedError,
    );
  });

  it('allows every other environment, and none', () => {
    for (const env of [{}, { NODE_ENV: 'development' }, { NODE_ENV: 'test' }, { NODE_ENV: 'Production ' }]) {
      expect(() => faultInjection({ env })).not.toThrow();
    }
  });

  it('reads process.env when no env is given', () => {
    const before = process.env.NODE_ENV;
    try {
      process.env.NODE_ENV = 'production';
      expect(() => faultInjection()).toThrow(FaultInjectionRefusedError);
      process.env.NODE_ENV = 'test';
      expect(() => faultInjection()).not.toThrow();
    } finally {
      process.env.NODE_ENV = before;
    }
  });
});

describe('faultInjection: bad configuration', () => {
  it.each([
    ['a rate above 1', { errors: { rate: 1.5 } }, 'errors.rate'],
    ['a negative rate', { drops: { rate: -0.1 } }, 'drops.rate'],
    ['a NaN rate', { latency: { rate: Number.NaN, ms: 1 } }, 'latency.rate'],
    ['a string rate', { errors: { rate: '0.5' } }, 'errors.rate'],
    ['a missing rate', { errors: {} }, 'errors.rate'],
    ['a fault that is not an object', { drops: 0.5 }, 'drops'],
    ['a negative latency', { latency: { rate: 1, ms: -1 } }, 'latency.ms'],
    ['an infinite latency', { latency: { rate: 1, ms: Number.POSITIVE_INFINITY } }, 'latency.ms'],
    ['a latency beyond setTimeout', { latency: { rate: 1, ms: 2 ** 31 } }, 'latency.ms'],
    ['a reversed range', { latency: { rate: 1, ms: [500, 100] } }, 'latency.ms'],
    ['a bad range bound', { latency: { rate: 1, ms: [0, -5] } }, 'latency.ms[1]'],
    ['a range of three', { latency: { rate: 1, ms: [1, 2, 3] } }, 'latency.ms'],
    ['an error that is not a factory', { errors: { rate: 1, error: new Error('x') } }, 'errors.error'],
    ['a random that is not a function', { random: 0.5 }, 'random'],
    ['a force that is not a boolean', { force: 'yes' }, 'force'],
    ['an env that is not an object', { env: 'production' }, 'env'],
    ['a misspelt option', { latancy: { rate: 1, ms: 1 } }, 'latancy'],
  ])('%s → ConfigError naming %s', (_label, options, option) => {
    expect(() => faultInjection({ env: DEV, ...options } as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });

  it('rejects options that are not an object', () => {
    for (const bad of [null, [], 'latency', 5]) {
      expect(() => new FaultInjectionPolicy(bad as never)).toThrow(
        expect.objectContaining({ kind: 'config', option: 'options' }),
      );
    }
  });
});

describe('faultInjection inside wrap()', () => {
  it("hands the function the caller's attempt (wrap(retry, faultInjection))", async () => {
    const seen: number[] = [];
    const policy = wrap(retry({ maxAttempts: 3, backoff: constantBackoff(0) }), faultInjection({ env: DEV }));
    const result = await policy.execute(({ attempt }) => {
      seen.push(attempt);
      if (attempt < 2) throw new Error('flaky');
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(seen).toEqual([0, 1, 2]);
  });

  it('a dropped call holds nothing when no signal could end it, and is released by an enclosing timeout', async () => {
    vi.useFakeTimers();
    const chaos = faultInjection({ drops: { rate: 1 }, env: DEV });
    void wrap(retry({ maxAttempts: 1 }), chaos).execute(() => 1);
    await vi.advanceTimersByTimeAsync(0);
    expect(chaos.stats.drops).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    // A timeout inside can end it: then it is held until the deadline, and released.
    const bounded = track(wrap(retry({ maxAttempts: 1 }), timeout(50), chaos).execute(() => 1));
    await vi.advanceTimersByTimeAsync(0);
    expect(chaos.stats.drops).toBe(2);
    expect(vi.getTimerCount()).toBe(2); // the timeout's deadline and the drop's keep-alive
    await vi.advanceTimersByTimeAsync(50);
    expect(bounded.state).toBe('rejected');
    expect(bounded.error).toBeInstanceOf(TaskTimeoutError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a process whose dropped call nothing can end exits, in a wrap as alone', () => {
    const { dir, index } = transpiledPackage('homing-faults-');
    const script = `
      const { faultInjection, retry, wrap } = await import(${JSON.stringify(index)});
      const chaos = faultInjection({ drops: { rate: 1 }, env: {} });
      void chaos.execute(async () => 'alone');
      void wrap(retry({ maxAttempts: 1 }), chaos).execute(async () => 'wrapped');
      console.log('dropped', chaos.stats.drops);
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.error).toBeUndefined();
    expect(result.stdout.trim()).toBe('dropped 2');
    expect(result.status).toBe(0);
  });

  it('refuses an unknown key inside latency, errors or drops, naming it', () => {
    const fn = () => new Error('mine');
    expect(() => faultInjection({ force: true, errors: { rate: 1, errror: fn } as never })).toThrow(
      expect.objectContaining({ option: 'errors.errror' }),
    );
    expect(() => faultInjection({ force: true, latency: { rate: 1, ms: 5, jitter: 3 } as never })).toThrow(
      ConfigError,
    );
    expect(() => faultInjection({ force: true, drops: { rate: 0.1, rat: 1 } as never })).toThrow(
      expect.objectContaining({ option: 'drops.rat' }),
    );
  });
});
