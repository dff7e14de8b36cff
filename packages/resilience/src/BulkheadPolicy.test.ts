import { afterEach, describe, expect, it, vi } from 'vitest';
import { bulkhead } from './BulkheadPolicy.js';
import { BulkheadRejectedError, TaskCancelledError, TaskTimeoutError } from './errors.js';
import { timeout } from './TimeoutPolicy.js';
import { wrap } from './wrap.js';

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('bulkhead', () => {
  it('runs maxConcurrent at once, queues maxQueue in order, rejects the rest', async () => {
    const policy = bulkhead({ maxConcurrent: 2, maxQueue: 1 });
    const g = gate();
    const order: number[] = [];
    const run = (i: number) =>
      policy.execute(async () => {
        order.push(i);
        await g.promise;
        return i;
      });
    const a = run(1);
    const b = run(2);
    const c = run(3);
    const d = run(4);
    await expect(d).rejects.toBeInstanceOf(BulkheadRejectedError);
    expect(policy.executing).toBe(2);
    expect(policy.queued).toBe(1);
    g.open();
    expect(await Promise.all([a, b, c])).toEqual([1, 2, 3]);
    expect(order).toEqual([1, 2, 3]);
    expect(policy.executing).toBe(0);
  });

  it('never runs more than maxConcurrent, even when new calls arrive as a slot frees', async () => {
    const policy = bulkhead({ maxConcurrent: 2, maxQueue: 100 });
    let running = 0;
    let most = 0;
    const task = async (): Promise<void> => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
    };
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < 6; i++) all.push(policy.execute(task));
    // Arrivals in the same turn as the first releases.
    await new Promise((r) => setTimeout(r, 1));
    for (let i = 0; i < 6; i++) all.push(policy.execute(task));
    await Promise.all(all);
    expect(most).toBe(2);
    expect(policy.executing).toBe(0);
  });

  it('a failing call frees its slot', async () => {
    const policy = bulkhead({ maxConcurrent: 1 });
    await expect(
      policy.execute(() => {
        throw new Error('x');
      }),
    ).rejects.toThrow('x');
    expect(await policy.execute(() => 'next')).toBe('next');
  });

  it("a queued call's signal takes it out of the queue at once", async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 5 });
    const g = gate();
    const first = policy.execute(() => g.promise);
    const controller = new AbortController();
    let ran = false;
    const queued = policy.execute(() => {
      ran = true;
    }, controller.signal);
    expect(policy.queued).toBe(1);
    controller.abort('no');
    await expect(queued).rejects.toBeInstanceOf(TaskCancelledError);
    expect(policy.queued).toBe(0);
    g.open();
    await first;
    expect(ran).toBe(false);
  });

  it('makes no signal for a queued call that has none: nothing could take it out', async () => {
    let made = 0;
    vi.stubGlobal(
      'AbortController',
      class extends AbortController {
        constructor() {
          super();
          made++;
        }
      },
    );
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const g = gate();
    const calls = [policy.execute(() => g.promise)];
    for (let i = 0; i < 5; i++) calls.push(policy.execute(async () => undefined));
    expect(policy.queued).toBe(5);
    g.open();
    await Promise.all(calls);
    expect(made).toBe(0);
    expect(policy.executing).toBe(0);
  });

  it('takes aborted calls out of the head, middle and tail of the queue; the rest run in order', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 10 });
    const g = gate();
    const first = policy.execute(() => g.promise);
    const order: number[] = [];
    const controllers = Array.from({ length: 7 }, () => new AbortController());
    const calls = controllers.map((c, i) =>
      policy
        .execute(() => void order.push(i), c.signal)
        .then(
          () => 'ran',
          (e: unknown) => (e instanceof TaskCancelledError ? 'cancelled' : e),
        ),
    );
    for (const i of [3, 0, 6, 4]) controllers[i]!.abort();
    expect(policy.queued).toBe(3);
    // A shared signal and one with no signal, queued after the removals.
    const shared = new AbortController();
    const late = [
      policy.execute(() => void order.push(7), shared.signal),
      policy.execute(() => void order.push(8)),
    ];
    g.open();
    await first;
    expect(await Promise.all(calls)).toEqual([
      'cancelled',
      'ran',
      'ran',
      'cancelled',
      'cancelled',
      'ran',
      'cancelled',
    ]);
    await Promise.all(late);
    expect(order).toEqual([1, 2, 5, 7, 8]);
    expect(policy.queued).toBe(0);
    expect(policy.executing).toBe(0);
  });

  it('a queued call leaves the queue when an enclosing timeout fires', async () => {
    vi.useFakeTimers();
    try {
      const policy = bulkhead({ maxConcurrent: 1, maxQueue: 5 });
      const g = gate();
      const first = policy.execute(() => g.promise);
      let ran = false;
      const queued = wrap(timeout(100), policy).execute(() => {
        ran = true;
      });
      const settled = queued.catch((e: unknown) => e);
      expect(policy.queued).toBe(1);
      await vi.advanceTimersByTimeAsync(100);
      expect(await settled).toBeInstanceOf(TaskTimeoutError);
      expect(policy.queued).toBe(0);
      g.open();
      await first;
      expect(ran).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('emits onReject with the load', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 0 });
    const seen: unknown[] = [];
    policy.onReject((e) => seen.push(e));
    const g = gate();
    const first = policy.execute(() => g.promise);
    const error = await policy.execute(() => 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'bulkhead-rejected', maxConcurrent: 1, maxQueue: 0 });
    expect(seen).toEqual([{ executing: 1, queued: 0 }]);
    g.open();
    await first;
  });

  it.each([
    [{ maxConcurrent: 0 }, 'maxConcurrent'],
    [{ maxConcurrent: 1.5 }, 'maxConcurrent'],
    [{}, 'maxConcurrent'],
    [{ maxConcurrent: 1, maxQueue: -1 }, 'maxQueue'],
    [{ maxConcurrent: 1, maxQueue: Number.NaN }, 'maxQueue'],
    [{ maxConcurrent: 1, queue: 3 }, 'queue'],
  ])('bad configuration %j → ConfigError naming %s', (options, option) => {
    expect(() => bulkhead(options as never)).toThrow(expect.objectContaining({ kind: 'config', option }));
  });
  it('maxQueue Infinity queues without a bound', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: Infinity });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls = Array.from({ length: 2000 }, (_, i) => policy.execute(async () => (await gate, i)));
    expect(policy.queued).toBe(1999);
    release();
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  it('a queued call whose signal aborts as it is handed the slot does not run, and the slot passes on', async () => {
    const policy = bulkhead({ maxConcurrent: 1, maxQueue: 2 });
    let finishFirst!: (v: string) => void;
    const first = policy.execute(() => new Promise<string>((resolve) => (finishFirst = resolve)));
    const controller = new AbortController();
    let ran = false;
    const second = policy
      .execute(() => {
        ran = true;
        return 'second';
      }, controller.signal)
      .catch((e: unknown) => e);
    const third = policy.execute(() => 'third');
    await Promise.resolve();
    finishFirst('first');
    await Promise.resolve();
    controller.abort(new Error('late abort'));
    expect(await first).toBe('first');
    expect(await second).toBeInstanceOf(TaskCancelledError);
    expect(ran).toBe(false);
    expect(await third).toBe('third');
    expect(policy.executing).toBe(0);
    expect(policy.queued).toBe(0);
  });
});
