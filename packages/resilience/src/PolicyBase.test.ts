import { afterEach, describe, expect, it, vi } from 'vitest';
import { constantBackoff } from './backoff.js';
import { circuitBreaker } from './CircuitBreakerPolicy.js';
import { ConsecutiveBreaker } from './ConsecutiveBreaker.js';
import { faultInjection } from './FaultInjectionPolicy.js';
import { retry } from './RetryPolicy.js';
import { timeout } from './TimeoutPolicy.js';
import { wrap } from './wrap.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('execute(fn, signal): a signal that is not one', () => {
  const policies = () => [
    retry({ maxAttempts: 3, backoff: constantBackoff(5) }),
    circuitBreaker({ breaker: new ConsecutiveBreaker(3) }),
    timeout(1000),
    wrap(retry(), timeout(1000)),
    faultInjection({ env: {} }),
  ];

  it.each([
    ['null', null],
    ['an options object', { timeout: 1000 }],
    ['a string', 'abort'],
    ['an object with aborted but no listeners', { aborted: false }],
  ])(
    '%s: a rejection with a ConfigError naming `signal`, never a throw, the function not run',
    async (_name, bad) => {
      for (const policy of policies()) {
        const fn = vi.fn(() => 1);
        let call: Promise<number> | undefined;
        expect(() => (call = policy.execute(fn, bad as never))).not.toThrow();
        await expect(call).rejects.toEqual(expect.objectContaining({ kind: 'config', option: 'signal' }));
        expect(fn).not.toHaveBeenCalled();
      }
    },
  );

  it('an options object given as the signal leaves no timer behind to throw later', async () => {
    vi.useFakeTimers();
    let n = 0;
    const call = retry({ maxAttempts: 3, backoff: constantBackoff(5) })
      .execute(
        () => {
          if (n++ < 1) throw new Error('real failure');
          return 'ok';
        },
        { timeout: 1000 } as never,
      )
      .catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(0);
    expect(await call).toEqual(expect.objectContaining({ kind: 'config', option: 'signal' }));
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a signal from another realm (duck-typed) is accepted', async () => {
    const real = new AbortController().signal;
    const foreign = {
      get aborted() {
        return real.aborted;
      },
      get reason() {
        return real.reason;
      },
      addEventListener: real.addEventListener.bind(real),
      removeEventListener: real.removeEventListener.bind(real),
    };
    expect(await retry().execute(() => 'ok', foreign as unknown as AbortSignal)).toBe('ok');
  });
});
