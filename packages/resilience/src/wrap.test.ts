import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.js';
import { circuitBreaker } from './CircuitBreakerPolicy.js';
import { ConsecutiveBreaker } from './ConsecutiveBreaker.js';
import { BrokenCircuitError, TaskTimeoutError } from './errors.js';
import { fallback } from './FallbackPolicy.js';
import type { Policy, PolicyContext } from './Policy.js';
import { retry } from './RetryPolicy.js';
import { timeout } from './TimeoutPolicy.js';
import { wrap } from './wrap.js';
import { transpiledPackage } from './transpiledPackage.test-helpers.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A policy from outside this package: it only knows execute(). */
function recorder(name: string, log: string[]): Policy {
  return {
    async execute<T>(fn: (ctx: PolicyContext) => T | PromiseLike<T>, signal?: AbortSignal): Promise<T> {
      log.push(`${name}:in`);
      try {
        return await fn({ signal: signal ?? new AbortController().signal, attempt: 0 });
      } finally {
        log.push(`${name}:out`);
      }
    },
  };
}

describe('wrap', () => {
  it('the first policy is the outermost', async () => {
    const log: string[] = [];
    const policy = wrap(recorder('a', log), recorder('b', log), recorder('c', log));
    expect(await policy.execute(() => (log.push('fn'), 1))).toBe(1);
    expect(log).toEqual(['a:in', 'b:in', 'c:in', 'fn', 'c:out', 'b:out', 'a:out']);
  });

  it('retry outside the breaker: the breaker counts every attempt', async () => {
    const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(3), halfOpenAfterMs: 60_000 });
    // maxRetryAfterMs 0: the refusals' retryAfterMs (60 s) is capped to no wait at all.
    const policy = wrap(retry({ maxAttempts: 5, backoff: constantBackoff(0), maxRetryAfterMs: 0 }), breaker);
    let n = 0;
    const error = await policy
      .execute(() => {
        n++;
        throw new Error('down');
      })
      .catch((e: unknown) => e);
    // Three attempts opened it; attempts four and five were refused without running.
    expect(n).toBe(3);
    expect(breaker.state).toBe('open');
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect(breaker.stats()).toMatchObject({ failures: 3, rejections: 2 });
  });

  it('retry outside an open breaker retries on its own backoff, not after the open period: the call fails fast', async () => {
    vi.useFakeTimers();
    const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 10_000 });
    await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => undefined);
    expect(breaker.state).toBe('open');
    // The README's composition: three attempts, 5 ms apart.
    const policy = wrap(retry({ maxAttempts: 3, backoff: constantBackoff(5) }), breaker);
    let outcome: unknown = 'pending';
    void policy
      .execute(() => 'ok')
      .then(
        (v) => (outcome = v),
        (e: unknown) => (outcome = e),
      );
    await vi.advanceTimersByTimeAsync(20);
    expect(outcome).toBeInstanceOf(BrokenCircuitError);
    expect(breaker.stats()).toMatchObject({ rejections: 3 });
  });

  it('breaker outside retry: one failed call is one failure', async () => {
    const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(2) });
    const policy = wrap(breaker, retry({ maxAttempts: 3, backoff: constantBackoff(0) }));
    await policy
      .execute(() => {
        throw new Error('down');
      })
      .catch(() => undefined);
    expect(breaker.stats()).toMatchObject({ calls: 1, failures: 1, state: 'closed' });
  });

  it('retry + breaker + timeout: each attempt has its own deadline and attempt number', async () => {
    vi.useFakeTimers();
    const policy = wrap(
      retry({ maxAttempts: 3, backoff: constantBackoff(0), maxRetryAfterMs: 0 }),
      circuitBreaker({ breaker: new ConsecutiveBreaker(5) }),
      timeout(100),
    );
    const attempts: number[] = [];
    const call = policy.execute((ctx) => {
      attempts.push(ctx.attempt);
      if (ctx.attempt < 2) return new Promise(() => {});
      return 'third time';
    });
    // Two 100 ms deadlines, each followed by the event-loop turn a zero delay still takes:
    // advanced well past them.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await call).toBe('third time');
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('a timeout outside retry bounds the whole thing, backoff sleep included', async () => {
    vi.useFakeTimers();
    let n = 0;
    const policy = wrap(
      timeout(1000, { strategy: 'cooperative' }),
      retry({ maxAttempts: 10, backoff: constantBackoff(400) }),
    );
    const call = policy
      .execute(() => {
        n++;
        throw new Error('down');
      })
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    const error = await call;
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect(n).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fallback outermost answers for an open circuit', async () => {
    const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(1) });
    const policy = wrap(fallback('cached', { handles: (e) => e instanceof BrokenCircuitError }), breaker);
    await policy
      .execute(() => {
        throw new Error('down');
      })
      .catch(() => undefined);
    expect(await policy.execute(() => 'fresh')).toBe('cached');
  });

  it('nested wraps flatten, foreign policies keep their place, and the signal reaches the function', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const policy = wrap(wrap(recorder('a', log), timeout(1000)), recorder('b', log));
    expect(policy.policies).toHaveLength(3);
    const seen = await policy.execute((ctx) => {
      controller.abort('stop');
      return ctx.signal.aborted;
    }, controller.signal);
    expect(seen).toBe(true);
    expect(log).toEqual(['a:in', 'b:in', 'b:out', 'a:out']);
  });

  it('a function below a foreign policy sees the attempt of a retry above it, and the signal the foreign policy passes', async () => {
    const passed = new AbortController().signal;
    const foreign: Policy = { execute: (fn) => Promise.resolve(fn({ signal: passed, attempt: 0 })) };
    const seen: Array<[number, AbortSignal]> = [];
    const error = await wrap(retry({ maxAttempts: 3, backoff: constantBackoff(0) }), foreign)
      .execute((ctx) => {
        seen.push([ctx.attempt, ctx.signal]);
        throw new Error('x');
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'x' });
    expect(seen.map(([a]) => a)).toEqual([0, 1, 2]);
    expect(seen.every(([, signal]) => signal === passed)).toBe(true);
    // One that passes no usable signal: the function gets the chain's own.
    const bare: Policy = { execute: (fn) => Promise.resolve(fn({ attempt: 0 } as unknown as PolicyContext)) };
    const controller = new AbortController();
    const got = await wrap(retry(), bare).execute((ctx) => ctx.signal, controller.signal);
    expect(got).toBe(controller.signal);
  });

  it("under a foreign retry the function sees that retry's attempts, and the fields it passes", async () => {
    // A retry from elsewhere (cockatiel's passes { signal, attempt }), and one field of its own.
    const foreignRetry: Policy = {
      async execute(fn) {
        for (let attempt = 0; ; attempt++) {
          try {
            return await fn({
              signal: new AbortController().signal,
              attempt,
              requestId: 'req-42',
            } as PolicyContext);
          } catch (error) {
            if (attempt === 2) throw error;
          }
        }
      },
    };
    const seen: Array<[number, unknown]> = [];
    const result = await wrap(foreignRetry).execute((ctx) => {
      seen.push([ctx.attempt, (ctx as PolicyContext & { requestId?: string }).requestId]);
      if (ctx.attempt < 2) throw new Error('flaky');
      return 'ok';
    });
    expect(result).toBe('ok');
    expect(seen).toEqual([
      [0, 'req-42'],
      [1, 'req-42'],
      [2, 'req-42'],
    ]);
    // With a Homing timeout below it, the attempts still reach the function.
    const attempts: number[] = [];
    await wrap(foreignRetry, timeout(1_000))
      .execute((ctx) => {
        attempts.push(ctx.attempt);
        throw new Error('x');
      })
      .catch(() => undefined);
    expect(attempts).toEqual([0, 1, 2]);
  });

  it('a foreign policy gets a signal only when one could abort', async () => {
    const signals: Array<AbortSignal | undefined> = [];
    const foreign: Policy = {
      execute: (fn, signal) => {
        signals.push(signal);
        return Promise.resolve(fn({ signal: signal ?? new AbortController().signal, attempt: 0 }));
      },
    };
    const controller = new AbortController();
    await wrap(retry(), foreign).execute(() => 1);
    await wrap(retry(), foreign).execute(() => 1, controller.signal);
    await wrap(timeout(1000), foreign).execute(() => 1);
    expect(signals[0]).toBeUndefined();
    expect(signals[1]).toBe(controller.signal);
    expect(signals[2]).toBeInstanceOf(AbortSignal);
  });

  it('a wrap of nothing just runs the function, sync throws included', async () => {
    expect(await wrap().execute(() => 7)).toBe(7);
    await expect(
      wrap().execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
  });

  it('rejects things that are not policies, naming the position', () => {
    expect(() => wrap(retry(), {} as never)).toThrow(
      expect.objectContaining({ kind: 'config', option: 'policies[1]' }),
    );
    expect(() => wrap(null as never)).toThrow(expect.objectContaining({ option: 'policies[0]' }));
  });
});

describe('timers never keep the process alive', () => {
  it('a process with an open breaker and a timeout with nothing in flight exits on its own', () => {
    const { dir, index } = transpiledPackage('homing-unref-');
    // A timeout's timer holds the process only while a call it times is pending (the caller
    // awaits it: TimeoutPolicy.test.ts); once the calls settled, its armed timer is unref'd.
    const script = `
      const { circuitBreaker, ConsecutiveBreaker, timeout, wrap } = await import(${JSON.stringify(index)});
      const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 3_600_000 });
      await breaker.execute(() => { throw new Error('down'); }).catch(() => {});
      if (breaker.state !== 'open') throw new Error('not open');
      await wrap(breaker, timeout(3_600_000)).execute(() => 'refused').catch(() => {});
      const t = timeout(3_600_000);
      // Timers armed for an hour, their calls done: only the policy's timer could hold the process.
      await t.execute(() => 'fast');
      await t.execute(() => Promise.reject(new Error('failed'))).catch(() => {});
      await timeout(3_600_000, { strategy: 'cooperative' }).execute(async () => 'fast');
      console.log('done');
    `;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    rmSync(dir, { recursive: true, force: true });
    expect(result.error).toBeUndefined();
    expect(result.stdout.trim()).toBe('done');
    expect(result.status).toBe(0);
  });
});
