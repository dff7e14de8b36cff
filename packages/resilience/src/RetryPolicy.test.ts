import { afterEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff, linearBackoff } from './backoff.js';
import {
  BrokenCircuitError,
  ConfigError,
  HttpError,
  RetryPredicateError,
  TaskCancelledError,
} from './errors.js';
import { isRetryableError, retry } from './RetryPolicy.js';

afterEach(() => {
  vi.useRealTimers();
});

function track<T>(promise: Promise<T>): { state: string; value?: T; error?: unknown } {
  const box: { state: string; value?: T; error?: unknown } = { state: 'pending' };
  promise.then(
    (value) => Object.assign(box, { state: 'resolved', value }),
    (error: unknown) => Object.assign(box, { state: 'rejected', error }),
  );
  return box;
}

function failing(times: number, result = 'ok'): { fn: () => Promise<string>; calls: () => number } {
  let n = 0;
  return {
    fn: async () => {
      if (n++ < times) throw new Error(`fail ${n}`);
      return result;
    },
    calls: () => n,
  };
}

describe('retry', () => {
  it('maxAttempts counts the first attempt; attempts see their number', async () => {
    const seen: number[] = [];
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(0) });
    await expect(
      policy.execute((ctx) => {
        seen.push(ctx.attempt);
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect(seen).toEqual([0, 1, 2]);
  });

  it('returns the first success and emits onRetry with the delays', async () => {
    const { fn, calls } = failing(2);
    const policy = retry({ maxAttempts: 5, backoff: linearBackoff({ initialMs: 0, stepMs: 0 }) });
    const events: unknown[] = [];
    policy.onRetry((e) => events.push({ attempt: e.attempt, delayMs: e.delayMs }));
    expect(await policy.execute(fn)).toBe('ok');
    expect(calls()).toBe(3);
    expect(events).toEqual([
      { attempt: 0, delayMs: 0 },
      { attempt: 1, delayMs: 0 },
    ]);
  });

  it('gives up after maxAttempts with the last error and emits onGiveUp', async () => {
    const { fn } = failing(10);
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(0) });
    const giveUps: unknown[] = [];
    const sub = policy.onGiveUp((e) => giveUps.push({ attempts: e.attempts, reason: e.reason }));
    await expect(policy.execute(fn)).rejects.toThrow('fail 2');
    expect(giveUps).toEqual([{ attempts: 2, reason: 'max-attempts' }]);
    sub.dispose();
    await expect(policy.execute(fn)).rejects.toThrow();
    expect(giveUps).toHaveLength(1);
  });

  it('maxAttempts 1 never retries', async () => {
    const { fn, calls } = failing(1);
    await expect(retry({ maxAttempts: 1 }).execute(fn)).rejects.toThrow('fail 1');
    expect(calls()).toBe(1);
  });

  it('retryOn decides which errors are retried', async () => {
    const fatal = Object.assign(new Error('fatal'), { fatal: true });
    let n = 0;
    const policy = retry({
      maxAttempts: 5,
      backoff: constantBackoff(0),
      retryOn: (e) => !(e as { fatal?: boolean }).fatal,
    });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    await expect(
      policy.execute(() => {
        n++;
        throw fatal;
      }),
    ).rejects.toBe(fatal);
    expect(n).toBe(1);
    expect(reasons).toEqual(['not-retryable']);
  });

  it('retryOnResult retries results and returns the last one when it gives up', async () => {
    let n = 0;
    const policy = retry({
      maxAttempts: 3,
      backoff: constantBackoff(0),
      retryOnResult: (r) => (r as { status: number }).status === 503,
    });
    expect(await policy.execute(() => ({ status: ++n < 2 ? 503 : 200 }))).toEqual({ status: 200 });
    n = 0;
    expect(await policy.execute(() => ({ status: 503, n: ++n }))).toEqual({ status: 503, n: 3 });
  });

  it('an error carrying retryAfterMs beats the backoff, capped by maxRetryAfterMs', async () => {
    vi.useFakeTimers();
    const delays: number[] = [];
    const policy = retry({ maxAttempts: 3, backoff: constantBackoff(10), maxRetryAfterMs: 5_000 });
    policy.onRetry((e) => delays.push(e.delayMs));
    let n = 0;
    const call = track(
      policy.execute(() => {
        n++;
        if (n === 1) throw Object.assign(new Error('429'), { retryAfterMs: 2_000 });
        if (n === 2) throw Object.assign(new Error('503'), { retryAfterMs: 3_600_000 });
        return 'done';
      }),
    );
    await vi.advanceTimersByTimeAsync(1_999);
    expect(n).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(n).toBe(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(call).toEqual({ state: 'resolved', value: 'done' });
    expect(delays).toEqual([2_000, 5_000]);
  });

  it("a BrokenCircuitError's retryAfterMs is not waited for: the backoff applies", async () => {
    vi.useFakeTimers();
    const delays: number[] = [];
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(1) });
    policy.onRetry((e) => delays.push(e.delayMs));
    let n = 0;
    const call = track(
      policy.execute(() => {
        if (n++ === 0) throw new BrokenCircuitError(750);
        return 1;
      }),
    );
    await vi.advanceTimersByTimeAsync(1);
    expect(call.state).toBe('resolved');
    expect(delays).toEqual([1]);
  });

  it('maxElapsedMs stops before a sleep that would overrun it', async () => {
    vi.useFakeTimers();
    const policy = retry({ maxAttempts: 100, maxElapsedMs: 250, backoff: constantBackoff(100) });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    const { fn, calls } = failing(100);
    const call = track(policy.execute(fn));
    await vi.advanceTimersByTimeAsync(1000);
    expect(call.state).toBe('rejected');
    expect(calls()).toBe(3);
    expect(reasons).toEqual(['max-elapsed']);
  });

  it('maxElapsedMs holds when the wall clock steps back or forward during the calls', async () => {
    for (const stepMs of [-3_600_000, 3_600_000]) {
      vi.useFakeTimers();
      const policy = retry({ maxAttempts: 100, maxElapsedMs: 250, backoff: constantBackoff(100) });
      const reasons: string[] = [];
      policy.onGiveUp((e) => reasons.push(e.reason));
      let calls = 0;
      const call = track(
        policy.execute(() => {
          // Steps Date.now() alone, as an NTP correction does; timers and performance.now() go on.
          if (++calls === 2) vi.setSystemTime(Date.now() + stepMs);
          throw new Error('down');
        }),
      );
      await vi.advanceTimersByTimeAsync(1000);
      expect({ stepMs, state: call.state, calls, reasons }).toEqual({
        stepMs,
        state: 'rejected',
        calls: 3,
        reasons: ['max-elapsed'],
      });
      vi.useRealTimers();
    }
  });

  it('maxElapsedMs 0 means no retry at all', async () => {
    const { fn, calls } = failing(5);
    await expect(retry({ maxElapsedMs: 0, backoff: constantBackoff(1) }).execute(fn)).rejects.toThrow();
    expect(calls()).toBe(1);
  });

  it('abort during the backoff sleep rejects at once, runs no further attempt, clears timer and listener', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const { fn, calls } = failing(10);
    const policy = retry({ maxAttempts: 5, backoff: constantBackoff(60_000) });
    const reasons: string[] = [];
    policy.onGiveUp((e) => reasons.push(e.reason));
    const call = track(policy.execute(fn, controller.signal));
    await vi.advanceTimersByTimeAsync(10);
    expect(calls()).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort('stop');
    await vi.advanceTimersByTimeAsync(0);
    expect(call.state).toBe('rejected');
    expect(call.error).toBeInstanceOf(TaskCancelledError);
    expect((call.error as TaskCancelledError).reason).toBe('stop');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls()).toBe(1);
    expect(reasons).toEqual(['cancelled']);
    // The one listener was added with { once: true }: the abort itself removed it.
    expect(add).toHaveBeenCalledTimes(1);
    expect(add.mock.calls[0]![2]).toEqual({ once: true });
    expect(remove).toHaveBeenCalledTimes(0);
  });

  it('removes its abort listener after each finished sleep', async () => {
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const { fn } = failing(3);
    await retry({ maxAttempts: 5, backoff: constantBackoff(1) }).execute(fn, controller.signal);
    expect(add).toHaveBeenCalledTimes(3);
    expect(remove).toHaveBeenCalledTimes(3);
  });

  it('an already aborted signal runs nothing', async () => {
    const fn = vi.fn();
    await expect(retry().execute(fn, AbortSignal.abort('x'))).rejects.toBeInstanceOf(TaskCancelledError);
    expect(fn).not.toHaveBeenCalled();
  });

  it('a failure after the caller aborted is not retried', async () => {
    const controller = new AbortController();
    let n = 0;
    const policy = retry({ maxAttempts: 5, backoff: constantBackoff(0) });
    await expect(
      policy.execute(() => {
        n++;
        controller.abort();
        throw new Error('aborted fetch');
      }, controller.signal),
    ).rejects.toThrow('aborted fetch');
    expect(n).toBe(1);
  });

  it('by default does not retry cancellations, config errors, permanent HTTP failures or conflicts', () => {
    expect(isRetryableError(new Error('x'))).toBe(true);
    expect(isRetryableError(new TaskCancelledError())).toBe(false);
    expect(isRetryableError(new ConfigError('a', 'b'))).toBe(false);
    expect(isRetryableError(new HttpError(400, { kind: 'permanent', reason: '400' }))).toBe(false);
    expect(isRetryableError(new HttpError(409, { kind: 'conflict', reason: '409' }))).toBe(false);
    expect(isRetryableError(new HttpError(503, { kind: 'retryable', reason: '503' }))).toBe(true);
    expect(isRetryableError(null)).toBe(true);
  });

  it("an error whose getters or Proxy traps throw is retried as usual, and is the call's error", async () => {
    const getter = new Error('hostile getter');
    Object.defineProperty(getter, 'retryAfterMs', {
      get() {
        throw new Error('getter');
      },
    });
    const proxy = new Proxy(new Error('hostile proxy'), {
      get(target, key) {
        if (key === 'kind' || key === 'retryAfterMs') throw new Error('trap');
        return Reflect.get(target, key) as unknown;
      },
    });
    expect(isRetryableError(proxy)).toBe(true);
    for (const error of [getter, proxy]) {
      let calls = 0;
      const outcome = await retry({ maxAttempts: 3, backoff: constantBackoff(1) })
        .execute(() => {
          calls++;
          throw error;
        })
        .catch((e: unknown) => e);
      expect(outcome).toBe(error);
      expect(calls).toBe(3);
    }
  });

  it('a zero delay still lets timers run between attempts: an abort stops a call that fails at once', async () => {
    let calls = 0;
    const outcome = await retry({ maxAttempts: 1e6, backoff: constantBackoff(0) })
      .execute(async () => {
        calls++;
        throw new Error('down');
      }, AbortSignal.timeout(20))
      .catch((e: unknown) => e);
    expect(outcome).toBeInstanceOf(Error);
    expect(calls).toBeGreaterThan(1);
    expect(calls).toBeLessThan(1e6);
  });

  it('a listener that throws does not break the retry', async () => {
    const policy = retry({ maxAttempts: 2, backoff: constantBackoff(0) });
    policy.onRetry(() => {
      throw new Error('bad listener');
    });
    const errors: unknown[] = [];
    const onError = (e: unknown): void => void errors.push(e);
    process.on('uncaughtException', onError);
    try {
      const { fn } = failing(1);
      expect(await policy.execute(fn)).toBe('ok');
      await new Promise((r) => setTimeout(r, 0));
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(errors).toHaveLength(1);
  });

  it.each([
    [{ maxAttempts: 0 }, 'maxAttempts'],
    [{ maxAttempts: 1.5 }, 'maxAttempts'],
    [{ maxAttempts: Number.NaN }, 'maxAttempts'],
    [{ maxAttempts: '3' }, 'maxAttempts'],
    [{ maxElapsedMs: -1 }, 'maxElapsedMs'],
    [{ maxElapsedMs: Number.NaN }, 'maxElapsedMs'],
    [{ backoff: 100 }, 'backoff'],
    [{ retryOn: true }, 'retryOn'],
    [{ retryOnResult: 'x' }, 'retryOnResult'],
    [{ maxRetryAfterMs: -5 }, 'maxRetryAfterMs'],
    [{ maxAttemps: 3 }, 'maxAttemps'],
  ])('bad configuration %j → ConfigError naming %s', (options, option) => {
    expect(() => retry(options as never)).toThrow(expect.objectContaining({ kind: 'config', option }));
  });

  it('a retryOnResult that throws never re-runs a call that succeeded: it gives up at once', async () => {
    const giveUps: unknown[] = [];
    const policy = retry({
      maxAttempts: 3,
      backoff: constantBackoff(0),
      retryOnResult: (result) => (result as { status: number }).status === 503,
    });
    policy.onGiveUp((e) => giveUps.push(e));
    let n = 0;
    const error = await policy
      .execute(() => {
        n++;
        return null;
      })
      .catch((e: unknown) => e);
    expect(n).toBe(1);
    expect(error).toBeInstanceOf(RetryPredicateError);
    expect(error).toMatchObject({ kind: 'config', option: 'retryOnResult' });
    const predicateError = (error as RetryPredicateError).predicateError;
    expect(predicateError).toBeInstanceOf(TypeError);
    expect((error as Error).cause).toBe(predicateError);
    expect(giveUps).toEqual([{ attempts: 1, reason: 'predicate-threw', error, result: null }]);
  });

  it("a retryOn that throws gives up at once, keeping the call's error as the cause, and emits onGiveUp", async () => {
    const giveUps: unknown[] = [];
    const policy = retry({
      maxAttempts: 3,
      backoff: constantBackoff(0),
      retryOn: (e) => (e as { response: { status: number } }).response.status >= 500,
    });
    policy.onGiveUp((e) => giveUps.push(e));
    const own = new Error('plain');
    let n = 0;
    const error = await policy
      .execute(() => {
        n++;
        throw own;
      })
      .catch((e: unknown) => e);
    expect(n).toBe(1);
    expect(error).toBeInstanceOf(RetryPredicateError);
    expect(error).toMatchObject({ kind: 'config', option: 'retryOn' });
    expect((error as Error).cause).toBe(own);
    expect((error as RetryPredicateError).predicateError).toBeInstanceOf(TypeError);
    expect(giveUps).toEqual([{ attempts: 1, reason: 'predicate-threw', error }]);
  });

  it('rejects a non-function task without throwing synchronously', async () => {
    await expect(retry().execute(42 as never)).rejects.toMatchObject({ kind: 'config', option: 'fn' });
    await expect(retry().execute(undefined as never)).rejects.toThrow(
      /execute\(fn\) takes a function, got undefined/,
    );
  });

  it("a Backoff of the app's own that answers NaN, a negative or too large delay is kept to what a timer can wait", async () => {
    vi.useFakeTimers();
    try {
      for (const [answer, expected] of [
        [Number.NaN, 0],
        [-100, 0],
        [Infinity, 2_147_483_647],
        [3e9, 2_147_483_647],
        // Not numbers (a Backoff in plain JS): read as numbers, never concatenated to a time.
        ['50', 50],
        [50n, 50],
        ['soon', 0],
        [{ value: 20, done: false }, 0],
      ] as const) {
        const policy = retry({
          maxAttempts: 2,
          backoff: { start: () => ({ next: () => answer as unknown as number }) },
        });
        const delays: number[] = [];
        policy.onRetry((e) => delays.push(e.delayMs));
        let calls = 0;
        const run = policy.execute(() => {
          calls++;
          throw new Error('down');
        });
        run.catch(() => undefined);
        await vi.advanceTimersByTimeAsync(10);
        expect(delays).toEqual([expected]);
        // Past the too-large delay nothing retries early (Node fired such a timer after 1 ms).
        expect(calls).toBe(expected === 0 ? 2 : 1);
        await vi.advanceTimersByTimeAsync(expected === 50 ? 40 : 0);
        expect(calls).toBe(expected <= 50 ? 2 : 1);
        await vi.runAllTimersAsync();
        await expect(run).rejects.toThrow('down');
      }
    } finally {
      vi.useRealTimers();
    }
  });
});
