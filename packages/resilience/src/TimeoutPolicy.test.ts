import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TaskCancelledError, TaskTimeoutError } from './errors.js';
import { timeout } from './TimeoutPolicy.js';
import { transpiledPackage } from './transpiledPackage.test-helpers.js';

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

  it("the largest timeout allowed never arms a timer past Node's limit (no TimeoutOverflowWarning)", async () => {
    // At this clock reading, (now + 2^31 - 1) - now comes back 2147483647.0000002 in floating point.
    const now = vi.spyOn(performance, 'now').mockReturnValue(185047.72775628476);
    const armed = vi.spyOn(globalThis, 'setTimeout');
    try {
      const policy = timeout(2 ** 31 - 1);
      expect(await policy.execute(() => 'done')).toBe('done');
      const delays = armed.mock.calls.map((c) => c[1] ?? 0);
      expect(delays.length).toBeGreaterThan(0);
      expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
    } finally {
      armed.mockRestore();
      now.mockRestore();
    }
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
    // The call's context watched (it read its signal), and so did the aggressive policy: both
    // through one listener on that signal (watchAbort), gone with the call.
    expect(add).toHaveBeenCalledTimes(1);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    // Aborting removed that listener (it was `once`); a call that ends removes its own.
    expect(remove).not.toHaveBeenCalled();
    const fresh = new AbortController();
    const removeFresh = vi.spyOn(fresh.signal, 'removeEventListener');
    await policy.execute((ctx) => ctx.signal.aborted, fresh.signal);
    expect(getEventListeners(fresh.signal, 'abort')).toHaveLength(0);
    expect(removeFresh).toHaveBeenCalledTimes(1);
    policy.close();
  });

  it("a signal first read after the call settled (work it left running) leaves no listener on the caller's signal", async () => {
    const shutdown = new AbortController();
    const policy = timeout(10_000);
    const contexts: { signal: AbortSignal }[] = [];
    for (let i = 0; i < 50; i++) {
      await policy.execute((ctx) => {
        contexts.push(ctx);
        return 'cached';
      }, shutdown.signal);
    }
    const late = contexts.map((ctx) => ctx.signal);
    // Each read had watched the app-lifetime signal for good: one leaked watch a call.
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(0);
    expect(late.some((signal) => signal.aborted)).toBe(false);
    shutdown.abort('bye');
    // A read after the caller aborted still tells so.
    const afterAbort: { signal: AbortSignal }[] = [];
    await policy
      .execute((ctx) => {
        afterAbort.push(ctx);
        return 'x';
      }, new AbortController().signal)
      .catch(() => undefined);
    const aborted = new AbortController();
    const seen: { signal: AbortSignal }[] = [];
    const call = policy.execute((ctx) => {
      seen.push(ctx);
      return 'y';
    }, aborted.signal);
    await call;
    aborted.abort('gone');
    expect(seen[0]!.signal.aborted).toBe(true);
    expect(seen[0]!.signal.reason).toBe('gone');
    expect(afterAbort[0]!.signal.aborted).toBe(false);
    policy.close();
  });

  it("a hung call's listener on the caller's signal is removed at its deadline, not when it settles", async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    for (const strategy of ['aggressive', 'cooperative'] as const) {
      const policy = timeout(5, { strategy });
      const signals: AbortSignal[] = [];
      for (let i = 0; i < 100; i++) {
        void policy
          .execute((ctx) => {
            signals.push(ctx.signal);
            return never();
          }, controller.signal)
          .catch(() => undefined);
      }
      // Every call's context watches it (each read its signal), and so does the aggressive
      // policy, through one listener for all (more than ten made Node warn on stderr).
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      await vi.advanceTimersByTimeAsync(5);
      expect(signals.every((signal) => signal.reason instanceof TaskTimeoutError)).toBe(true);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }
  });

  it('aggressive: the caller aborting rejects at once with a TaskCancelledError, even when the function ignores it', async () => {
    const controller = new AbortController();
    const policy = timeout(10_000);
    const started = Date.now();
    const call = policy.execute(() => never(), controller.signal);
    setTimeout(() => controller.abort('user left'), 20);
    const error = await call.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskCancelledError);
    expect((error as TaskCancelledError).reason).toBe('user left');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(policy.pending).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    policy.close();
  });

  it('many concurrent aggressive calls on one caller signal put one listener on it, not one each', async () => {
    const controller = new AbortController();
    const policy = timeout(1000);
    const calls = Array.from({ length: 50 }, () =>
      policy.execute(() => new Promise((resolve) => setTimeout(resolve, 5)), controller.signal),
    );
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await Promise.all(calls);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    policy.close();
  });

  it('calls that never settle do not grow the queue past the calls still within their deadline', async () => {
    vi.useFakeTimers();
    try {
      for (const strategy of ['aggressive', 'cooperative'] as const) {
        const policy = timeout(100, { strategy });
        for (let t = 0; t < 200; t++) {
          for (let i = 0; i < 100; i++) void policy.execute(() => never()).catch(() => undefined);
          await vi.advanceTimersByTimeAsync(2);
        }
        // 20 000 calls, ~5 000 within their deadline: the expired ones are not kept.
        const queue = (policy as unknown as { queue: unknown[]; head: number }).queue;
        expect(queue.length).toBeLessThan(12_000);
        await vi.advanceTimersByTimeAsync(200);
        expect(policy.pending).toBe(0);
      }
    } finally {
      vi.useRealTimers();
    }
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

  it('deadlines keep to a monotonic clock: a wall clock stepped back leaves no call pending', async () => {
    vi.useFakeTimers();
    const policy = timeout(50);
    const first = track(policy.execute(() => new Promise((r) => setTimeout(r, 300, 'late'))));
    vi.setSystemTime(Date.now() - 10_000); // an NTP correction: Date.now() goes back 10 s
    const second = track(policy.execute(never));
    await vi.advanceTimersByTimeAsync(50);
    expect(first.state).toBe('rejected');
    expect(second.state).toBe('rejected');
    expect(second.error).toBeInstanceOf(TaskTimeoutError);
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

/** Runs `body` as an ES module in a child node, with this package's exports in scope. */
function runScript(
  body: string,
  nodeArgs: readonly string[] = [],
): { status: number | null; stdout: string; stderr: string } {
  const { dir, index } = transpiledPackage('homing-timeout-');
  try {
    const script = `const pkg = await import(${JSON.stringify(index)});\n${body}`;
    const result = spawnSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('timeout policies made per call', () => {
  it('leave nothing behind once collected (a server never reaches beforeExit)', () => {
    const result = runScript(
      `
      const { timeout } = pkg;
      const pause = (ms) => new Promise((r) => setTimeout(r, ms));
      const settle = async () => { for (let i = 0; i < 4; i++) { globalThis.gc(); await pause(20); } };
      await timeout(5).execute(() => 1);
      await pause(30);
      await settle();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 300_000; i++) await timeout(5).execute(() => i);
      await pause(50);
      await settle();
      console.log(((process.memoryUsage().heapUsed - before) / 2 ** 20).toFixed(1));
    `,
      ['--expose-gc'],
    );
    expect(result.stderr).toBe('');
    // Kept, each policy's entry held about 50 bytes: 300 000 of them, about 15 MB.
    expect(Number(result.stdout.trim())).toBeLessThan(5);
  }, 30_000);
});

describe('timeout in a process with nothing else to do', () => {
  it('a call awaited at top level times out, instead of the process exiting mid-await (README example)', () => {
    // Nothing but the policy's timer can end these calls: with it unref'd, node exits with 13
    // (unsettled top-level await) and prints nothing.
    const result = runScript(`
      const { timeout, TaskTimeoutError } = pkg;
      const aggressive = timeout(20, { strategy: 'aggressive' });
      try {
        await aggressive.execute(() => new Promise(() => {}));
      } catch (error) {
        console.log(error instanceof TaskTimeoutError);
      }
      const cooperative = timeout(20, { strategy: 'cooperative' });
      const answer = await cooperative
        .execute(({ signal }) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason))))
        .catch((error) => error.kind);
      console.log(answer);
    `);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toEqual(['true', 'timeout']);
    expect(result.status).toBe(0);
  });

  it('once no call is pending, the armed timer no longer holds the process', () => {
    const started = Date.now();
    const result = runScript(`
      const t = pkg.timeout(3_600_000);
      await t.execute(() => 'fast'); // arms the hour-long timer, then settles
      const hung = pkg.timeout(50);
      await hung.execute(() => new Promise(() => {})).catch((error) => console.log(error.kind));
      await t.execute(() => 'again'); // the same armed timer, ref'd again and unref'd again
      console.log('done');
    `);
    expect(result.stdout.trim().split('\n')).toEqual(['timeout', 'done']);
    expect(result.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
