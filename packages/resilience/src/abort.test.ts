import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { anySignal, sleep } from './abort.js';
import { ConfigError, TaskCancelledError } from './errors.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('sleep', () => {
  it('resolves after the delay and removes its listener', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const remove = vi.spyOn(controller.signal, 'removeEventListener');
    let done = false;
    void sleep(50, controller.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(49);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
    expect(remove).toHaveBeenCalledTimes(1);
  });

  it('given something that is not a signal, rejects and starts no timer', async () => {
    vi.useFakeTimers();
    await expect(sleep(5, { timeout: 1000 } as never)).rejects.toBeInstanceOf(ConfigError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects a delay a timer cannot wait, with a ConfigError naming it, and starts no timer', async () => {
    vi.useFakeTimers();
    for (const ms of [
      2 ** 31,
      3e9,
      Infinity,
      -1,
      Number.NaN,
      '50' as unknown as number,
      null as unknown as number,
    ]) {
      await expect(sleep(ms)).rejects.toEqual(expect.objectContaining({ kind: 'config', option: 'ms' }));
    }
    expect(vi.getTimerCount()).toBe(0);
    // The longest a timer waits is taken.
    let done = false;
    void sleep(2 ** 31 - 1).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(done).toBe(false);
    vi.clearAllTimers();
  });

  it('rejects at once on abort and clears its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const slept = sleep(60_000, controller.signal);
    controller.abort('why');
    await expect(slept).rejects.toEqual(expect.objectContaining({ kind: 'cancelled', reason: 'why' }));
    expect(vi.getTimerCount()).toBe(0);
    await expect(sleep(10, AbortSignal.abort())).rejects.toBeInstanceOf(TaskCancelledError);
  });
});

describe('anySignal', () => {
  it('aborts with the reason of the first signal that aborts, and removes its listeners', () => {
    const a = new AbortController();
    const b = new AbortController();
    const removeB = vi.spyOn(b.signal, 'removeEventListener');
    const any = anySignal([a.signal, b.signal]);
    expect(any.signal.aborted).toBe(false);
    a.abort('first');
    expect(any.signal.reason).toBe('first');
    expect(removeB).toHaveBeenCalledTimes(1);
    b.abort('second');
    expect(any.signal.reason).toBe('first');
  });

  it('is aborted at once when a signal already is; dispose() detaches', () => {
    expect(anySignal([new AbortController().signal, AbortSignal.abort('x')]).signal.reason).toBe('x');
    const a = new AbortController();
    const any = anySignal([a.signal]);
    any.dispose();
    a.abort();
    expect(any.signal.aborted).toBe(false);
  });

  it('throws a ConfigError naming the entry for what is not an array of signals, watching nothing', () => {
    const good = new AbortController();
    for (const [bad, option] of [
      [null, 'signals'],
      [good.signal, 'signals'],
      [[good.signal, null], 'signals[1]'],
      [[good.signal, {}], 'signals[1]'],
      [['x'], 'signals[0]'],
    ] as const) {
      expect(() => anySignal(bad as unknown as AbortSignal[])).toThrow(
        expect.objectContaining({ kind: 'config', option }),
      );
    }
    expect(getEventListeners(good.signal, 'abort')).toHaveLength(0);
  });
});
