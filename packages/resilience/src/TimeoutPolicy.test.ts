import { afterEach, describe, expect, it, vi } from 'vitest';
import { TaskTimeoutError } from './errors.js';
import { timeout } from './TimeoutPolicy.js';

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

const never = (): Promise<never> => new Promise(() => {});

describe('timeout', () => {
  it('aggressive: rejects at the deadline without waiting, and aborts the signal', async () => {
    vi.useFakeTimers();
    const policy = timeout(100, { strategy: 'aggressive' });
    let signal: AbortSignal | undefined;
    const call = track(
      policy.execute((ctx) => {
        signal = ctx.signal;
        return never();
      }),
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(call.state).toBe('rejected');
    expect(call.error).toBeInstanceOf(TaskTimeoutError);
    expect(signal!.aborted).toBe(true);
    expect(signal!.reason).toBeInstanceOf(TaskTimeoutError);
    expect(policy.pending).toBe(0);
  });

  it('cooperative: aborts the signal, waits, and turns the late failure into a TaskTimeoutError', async () => {
    vi.useFakeTimers();
    const policy = timeout(100, { strategy: 'cooperative' });
    const call = track(
      policy.execute(
        (ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => setTimeout(() => reject(new Error('stopped')), 50));
          }),
      ),
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(call.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(50);
    expect(call.error).toBeInstanceOf(TaskTimeoutError);
    expect((call.error as Error).cause).toEqual(new Error('stopped'));
  });

  it('cooperative: a late success is still returned', async () => {
    vi.useFakeTimers();
    const policy = timeout(10, { strategy: 'cooperative' });
    const call = track(policy.execute(() => new Promise((r) => setTimeout(() => r('late'), 50))));
    await vi.advanceTimersByTimeAsync(50);
    expect(call).toEqual({ state: 'resolved', value: 'late' });
  });

  it('a fast call is untouched and its signal never aborts', async () => {
    vi.useFakeTimers();
    const policy = timeout(100);
    let signal: AbortSignal | undefined;
    expect(
      await policy.execute((ctx) => {
        signal = ctx.signal;
        return 5;
      }),
    ).toBe(5);
    await vi.advanceTimersByTimeAsync(1000);
    expect(signal!.aborted).toBe(false);
  });

  it('uses one timer for many calls, and each expires at its own deadline in order', async () => {
    vi.useFakeTimers();
    const policy = timeout(100);
    const calls = [];
    for (let i = 0; i < 5; i++) {
      calls.push(track(policy.execute(never)));
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(vi.getTimerCount()).toBe(1);
    // Started at t = 0, 10, ... 40: deadlines 100, 110, ... 140. Now t = 50.
    await vi.advanceTimersByTimeAsync(55); // t = 105
    expect(calls.map((c) => c.state)).toEqual(['rejected', 'pending', 'pending', 'pending', 'pending']);
    await vi.advanceTimersByTimeAsync(20); // t = 125: deadlines 110 and 120
    expect(calls.map((c) => c.state)).toEqual(['rejected', 'rejected', 'rejected', 'pending', 'pending']);
    await vi.advanceTimersByTimeAsync(20);
    expect(calls.every((c) => c.state === 'rejected')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('calls that finish are dropped from the queue; a hung one expires alone', async () => {
    vi.useFakeTimers();
    const policy = timeout(100);
    const hung = track(policy.execute(never));
    for (let i = 0; i < 100; i++) await policy.execute(() => i);
    expect(policy.pending).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(hung.state).toBe('rejected');
    expect(policy.pending).toBe(0);
  });

  it('the caller aborting reaches the function through the timeout signal, and its listener is removed', async () => {
    const controller = new AbortController();
    const add = vi.spyOn(controller.signal, 'addEventListener');
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    const policy = timeout(10_000);
    let inner: AbortSignal | undefined;
    const call = policy.execute((ctx) => {
      inner = ctx.signal;
      return new Promise((_r, reject) =>
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
      );
    }, controller.signal);
    controller.abort('bye');
    await expect(call).rejects.toBe('bye');
    expect(inner!.aborted).toBe(true);
    await policy.execute((ctx) => ctx.signal.aborted);
    expect(add).toHaveBeenCalledTimes(1);
    const fresh = new AbortController();
    const add2 = vi.spyOn(fresh.signal, 'addEventListener');
    const remove2 = vi.spyOn(fresh.signal, 'removeEventListener');
    await policy.execute((ctx) => ctx.signal.aborted, fresh.signal);
    expect(add2).toHaveBeenCalledTimes(1);
    expect(remove2).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledTimes(1);
    policy.close();
  });

  it('a function that never reads the signal gets no AbortController', async () => {
    const spy = vi.spyOn(globalThis, 'AbortController');
    const policy = timeout(1000);
    await policy.execute(() => 1);
    expect(spy).not.toHaveBeenCalled();
    await policy.execute((ctx) => ctx.signal);
    expect(spy).toHaveBeenCalledTimes(1);
    spy.mockRestore();
    policy.close();
  });

  it('reading the signal after the deadline gives an aborted signal', async () => {
    vi.useFakeTimers();
    const policy = timeout(10, { strategy: 'cooperative' });
    const call = policy.execute(async (ctx) => {
      await new Promise((r) => setTimeout(r, 20));
      return ctx.signal.aborted;
    });
    await vi.advanceTimersByTimeAsync(20);
    expect(await call).toBe(true);
  });

  it('an abort listener that starts and ends calls while deadlines expire loses no deadline', async () => {
    vi.useFakeTimers();
    const policy = timeout(100);
    const first = track(
      policy.execute((ctx) => {
        ctx.signal.addEventListener('abort', () => {
          void policy
            .execute(() => {
              throw new Error('sync');
            })
            .catch(() => undefined);
        });
        return never();
      }),
    );
    await vi.advanceTimersByTimeAsync(10);
    const second = track(policy.execute(never));
    await vi.advanceTimersByTimeAsync(90);
    expect(first.state).toBe('rejected');
    expect(second.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(10);
    expect(second.state).toBe('rejected');
    expect(policy.pending).toBe(0);
  });

  it('a synchronous throw is passed through', async () => {
    const policy = timeout(1000);
    await expect(
      policy.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(policy.pending).toBe(0);
    policy.close();
  });

  it('onTimeout fires once per expired call', async () => {
    vi.useFakeTimers();
    const policy = timeout(5);
    const seen: number[] = [];
    policy.onTimeout((e) => seen.push(e.timeoutMs));
    void policy.execute(never).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(5);
    expect(seen).toEqual([5]);
  });

  it.each([
    [() => timeout(-1), 'timeoutMs'],
    [() => timeout(Number.NaN), 'timeoutMs'],
    [() => timeout('5' as never), 'timeoutMs'],
    [() => timeout(2 ** 40), 'timeoutMs'],
    [() => timeout(5, { strategy: 'polite' as never }), 'strategy'],
    [() => timeout(5, { stratgy: 'aggressive' } as never), 'stratgy'],
  ])('bad configuration → ConfigError (%#)', (make, option) => {
    expect(make).toThrow(expect.objectContaining({ kind: 'config', option }));
  });
});
