import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { exponentialBackoff } from './backoff.js';
import { circuitBreaker, isCircuitFailure } from './CircuitBreakerPolicy.js';
import { ConsecutiveBreaker } from './ConsecutiveBreaker.js';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  IsolatedCircuitError,
  TaskCancelledError,
} from './errors.js';
import { SamplingBreaker } from './SamplingBreaker.js';
import { timeout } from './TimeoutPolicy.js';
import { wrap } from './wrap.js';

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});

const boom = (): never => {
  throw new Error('boom');
};
const ok = (): string => 'ok';

async function failTimes(
  policy: { execute: (fn: () => unknown) => Promise<unknown> },
  n: number,
): Promise<void> {
  for (let i = 0; i < n; i++) await policy.execute(boom).catch(() => undefined);
}

describe('circuitBreaker', () => {
  it('opens after n consecutive failures, fails fast with retryAfterMs, and half-opens by timestamp', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(3), halfOpenAfterMs: 1000 });
    const changes: string[] = [];
    policy.onStateChange((e) => changes.push(`${e.from}>${e.to}`));
    await failTimes(policy, 2);
    await policy.execute(ok);
    await failTimes(policy, 2);
    expect(policy.state).toBe('closed');
    await failTimes(policy, 1);
    expect(policy.state).toBe('open');
    const fn = vi.fn(ok);
    await vi.advanceTimersByTimeAsync(400);
    const error = await policy.execute(fn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokenCircuitError);
    expect((error as BrokenCircuitError).retryAfterMs).toBe(600);
    expect(fn).not.toHaveBeenCalled();
    // No timer: the state changes only when a call arrives after the open period.
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(600);
    expect(policy.state).toBe('open');
    expect(await policy.execute(fn)).toBe('ok');
    expect(policy.state).toBe('closed');
    expect(changes).toEqual(['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it('half-open lets halfOpenMaxProbes through, others fail fast; closes after successThreshold', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 100,
      halfOpenMaxProbes: 2,
      successThreshold: 2,
    });
    await failTimes(policy, 1);
    vi.advanceTimersByTime(100);
    const gates: Array<() => void> = [];
    const slow = (): Promise<string> => new Promise((resolve) => gates.push(() => resolve('probe')));
    const p1 = policy.execute(slow);
    const p2 = policy.execute(slow);
    expect(policy.state).toBe('half-open');
    await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(gates).toHaveLength(2);
    gates[0]!();
    await p1;
    expect(policy.state).toBe('half-open');
    gates[1]!();
    await p2;
    expect(policy.state).toBe('closed');
    expect(policy.stats()).toMatchObject({ rejections: 1, successes: 2, failures: 1 });
  });

  it('a listener that starts a call as the circuit half-opens cannot push it past halfOpenMaxProbes', async () => {
    for (const subscribe of ['onHalfOpen', 'onStateChange'] as const) {
      const policy = circuitBreaker({
        breaker: new ConsecutiveBreaker(1),
        halfOpenAfterMs: 10,
        halfOpenMaxProbes: 1,
      });
      let running = 0;
      let most = 0;
      const slow = (): Promise<string> => {
        running++;
        most = Math.max(most, running);
        return new Promise((resolve) => setTimeout(() => (running--, resolve('ok')), 30));
      };
      await failTimes(policy, 1);
      const fromListener: Array<Promise<unknown>> = [];
      policy[subscribe](() => {
        if (fromListener.length === 0) fromListener.push(policy.execute(slow).catch((e: unknown) => e));
      });
      await vi.advanceTimersByTimeAsync(10);
      const probe = policy.execute(slow);
      await vi.advanceTimersByTimeAsync(30);
      expect(await probe).toBe('ok');
      expect(fromListener).toHaveLength(1);
      expect(await fromListener[0]).toBeInstanceOf(BrokenCircuitError);
      expect(most).toBe(1);
      expect(policy.state).toBe('closed');
    }
  });

  it('a failed probe opens again, for a backed-off duration', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfter: exponentialBackoff({ initialMs: 100, factor: 2, maxMs: 1000, jitter: 'none' }),
    });
    const opens: number[] = [];
    policy.onBreak((e) => opens.push(e.openForMs));
    await failTimes(policy, 1);
    for (const wait of [100, 200, 400]) {
      vi.advanceTimersByTime(wait - 1);
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
      vi.advanceTimersByTime(1);
      await failTimes(policy, 1);
      expect(policy.state).toBe('open');
    }
    expect(opens).toEqual([100, 200, 400, 800]);
    vi.advanceTimersByTime(800);
    await policy.execute(ok);
    expect(policy.state).toBe('closed');
    // Closing starts the open durations from the beginning.
    await failTimes(policy, 1);
    expect(opens.at(-1)).toBe(100);
  });

  it('a hung probe does not hold the breaker: after another open period a new probe goes through', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 1000 });
    await failTimes(policy, 1);
    vi.advanceTimersByTime(1000);
    void policy.execute(() => new Promise(() => {}));
    vi.advanceTimersByTime(999);
    const early = await policy.execute(ok).catch((e: unknown) => e);
    expect((early as BrokenCircuitError).retryAfterMs).toBe(1);
    vi.advanceTimersByTime(1);
    expect(await policy.execute(ok)).toBe('ok');
    expect(policy.state).toBe('closed');
  });

  it('a dependency back but slower than the open period closes the circuit: a late probe success counts', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 20 });
    await failTimes(policy, 1);
    vi.advanceTimersByTime(25);
    // Every call now takes 1.5 s (over the probe's slot period), and calls keep coming.
    const slow = (): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('slow ok'), 1_500));
    const outcomes: Promise<unknown>[] = [];
    for (let t = 0; t < 1_400; t += 100) {
      outcomes.push(policy.execute(slow).catch((e: unknown) => e));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(policy.state).toBe('half-open');
    await vi.advanceTimersByTimeAsync(200);
    // The first probe answered after its slot was given to a second one: it still closes the circuit.
    expect(policy.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(1_500);
    const settled = await Promise.all(outcomes);
    // Two probes ran (the second took the slot the first held too long); the rest failed fast.
    expect(settled.filter((o) => o === 'slow ok')).toHaveLength(2);
    expect(settled.filter((o) => o instanceof BrokenCircuitError)).toHaveLength(12);
  });

  it('halfOpenAfterMs 0: probes still hold their slot (PROBE_SLOT_MIN_MS), so only halfOpenMaxProbes run at once', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 0 });
    await failTimes(policy, 1);
    let running = 0;
    let most = 0;
    const probe = async (): Promise<string> => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 50));
      running--;
      return 'ok';
    };
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 6; i++) {
      calls.push(policy.execute(probe).catch((e: unknown) => e));
      await vi.advanceTimersByTimeAsync(5);
    }
    await vi.advanceTimersByTimeAsync(100);
    const settled = await Promise.all(calls);
    expect(most).toBe(1);
    expect(settled[0]).toBe('ok');
    expect(settled.slice(1).every((o) => o instanceof BrokenCircuitError)).toBe(true);
    expect(policy.state).toBe('closed');
  });

  it('three outcomes: an error isFailure rejects is ignored, neither success nor failure', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(2),
      isFailure: (e) => !(e as Error).message.startsWith('ignore'),
    });
    const ignore = (): never => {
      throw new Error('ignore me');
    };
    await failTimes(policy, 1);
    await policy.execute(ignore).catch(() => undefined);
    await failTimes(policy, 1);
    // The ignored error did not reset the consecutive count the way a success would.
    expect(policy.state).toBe('open');
    expect(policy.stats()).toMatchObject({ calls: 3, failures: 2, ignored: 1, successes: 0 });
  });

  it('an isFailure that throws counts the call as a failure and keeps the original error', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      isFailure: () => {
        throw new Error('predicate bug');
      },
    });
    await expect(policy.execute(boom)).rejects.toThrow('boom');
    expect(policy.state).toBe('open');
  });

  it('bulkhead rejections and cancellations are ignored by default', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1) });
    await policy
      .execute(() => {
        throw new BulkheadRejectedError(1, 0);
      })
      .catch(() => undefined);
    await policy
      .execute(() => {
        throw new TaskCancelledError();
      })
      .catch(() => undefined);
    const controller = new AbortController();
    await policy
      .execute(() => {
        controller.abort();
        throw new Error('fetch aborted');
      }, controller.signal)
      .catch(() => undefined);
    expect(policy.state).toBe('closed');
    expect(policy.stats().ignored).toBe(3);
  });

  it('isFailure decides for aborted calls too: it is told the call was aborted', async () => {
    const seen: boolean[] = [];
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(2),
      isFailure: (_error, aborted) => (seen.push(aborted), true),
    });
    const hung = wrap(timeout(10, { strategy: 'cooperative' }), policy);
    for (let i = 0; i < 2; i++) {
      const call = hung
        .execute(
          ({ signal }) =>
            new Promise((_resolve, reject) =>
              signal.addEventListener('abort', () => reject(new Error('ETIMEDOUT'))),
            ),
        )
        .catch(() => undefined);
      await vi.advanceTimersByTimeAsync(10);
      await call;
    }
    expect(seen).toEqual([true, true]);
    expect(policy.stats()).toMatchObject({ failures: 2, ignored: 0, state: 'open' });
    // The default still ignores them.
    expect(isCircuitFailure(new Error('ETIMEDOUT'), true)).toBe(false);
    expect(isCircuitFailure(new Error('ETIMEDOUT'))).toBe(true);
  });

  it('an ignored probe frees its slot without closing or opening', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 10,
      isFailure: () => false,
    });
    // With isFailure always false nothing opens it; isolate-and-restore gives an open state.
    const opened = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 10,
      isFailure: (e) => (e as Error).message !== 'ignored',
      initialState: {
        version: 1,
        state: 'open',
        since: Date.now(),
        openUntil: Date.now() + 10,
        openings: 1,
        breaker: { kind: 'consecutive', count: 1 },
      },
    });
    vi.advanceTimersByTime(10);
    await opened
      .execute(() => {
        throw new Error('ignored');
      })
      .catch(() => undefined);
    expect(opened.state).toBe('half-open');
    expect(await opened.execute(ok)).toBe('ok');
    expect(opened.state).toBe('closed');
    expect(policy.state).toBe('closed');
  });

  it('outcomes of calls admitted before the circuit opened are not counted after', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 100 });
    let release!: () => void;
    const late = policy.execute(
      () =>
        new Promise<string>((resolve) => {
          release = () => resolve('late');
        }),
    );
    await failTimes(policy, 1);
    expect(policy.state).toBe('open');
    release();
    await late;
    expect(policy.state).toBe('open');
  });

  it('calls in flight when the circuit changed are still counted and heard of, without deciding it', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(3), halfOpenAfterMs: 10_000 });
    const failures: unknown[] = [];
    policy.onFailure(({ error }) => failures.push(error));
    const releases: Array<() => void> = [];
    const calls = Array.from({ length: 10 }, (_, i) =>
      policy
        .execute(() => new Promise<never>((_, reject) => releases.push(() => reject(new Error(`down ${i}`)))))
        .catch((e: unknown) => e),
    );
    await Promise.resolve();
    for (const release of releases) release();
    const outcomes = await Promise.all(calls);
    expect(outcomes.every((e) => e instanceof Error && e.message.startsWith('down'))).toBe(true);
    expect(policy.state).toBe('open');
    expect(policy.stats()).toMatchObject({ calls: 10, failures: 10, successes: 0, ignored: 0 });
    expect(failures).toHaveLength(10);
    // The late failures did not open it again: one opening, its period from the first.
    expect(policy.stats()).toMatchObject({ state: 'open' });

    // reset() with calls in flight: their successes are counted, the circuit stays closed.
    const other = circuitBreaker({ breaker: new ConsecutiveBreaker(3) });
    let successes = 0;
    other.onSuccess(() => successes++);
    const done: Array<() => void> = [];
    const running = Array.from({ length: 5 }, () =>
      other.execute(() => new Promise<string>((resolve) => done.push(() => resolve('ok')))),
    );
    other.reset();
    for (const d of done) d();
    expect(await Promise.all(running)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(other.stats()).toMatchObject({ calls: 5, successes: 5, state: 'closed' });
    expect(successes).toBe(5);
  });

  it('every probe that succeeds is counted, also those settling after the circuit closed', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 100,
      halfOpenMaxProbes: 3,
    });
    await failTimes(policy, 1);
    vi.advanceTimersByTime(100);
    const done: Array<() => void> = [];
    const probes = Array.from({ length: 3 }, (_, i) =>
      policy.execute(() => new Promise<number>((resolve) => done.push(() => resolve(i)))),
    );
    expect(policy.state).toBe('half-open');
    for (const d of done) d();
    expect(await Promise.all(probes)).toEqual([0, 1, 2]);
    expect(policy.state).toBe('closed');
    expect(policy.stats()).toMatchObject({ successes: 3, failures: 1 });
  });

  it('isolate() or reset() called by an onFailure listener is not undone by the failure it hears of', async () => {
    const isolating = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 50 });
    let handle: { dispose(): void } | undefined;
    isolating.onFailure(() => (handle ??= isolating.isolate()));
    await failTimes(isolating, 1);
    expect(isolating.state).toBe('isolated');
    vi.advanceTimersByTime(100);
    await expect(isolating.execute(ok)).rejects.toBeInstanceOf(IsolatedCircuitError);
    handle!.dispose();
    expect(await isolating.execute(ok)).toBe('ok');

    const resetting = circuitBreaker({ breaker: new ConsecutiveBreaker(2) });
    resetting.onFailure(() => resetting.reset());
    await failTimes(resetting, 1);
    // The reset breaker does not count the failure that led to it: one more does not open it.
    await failTimes(resetting, 1);
    expect(resetting.state).toBe('closed');
  });

  it('isolate() holds it open until every handle is disposed; reset() closes', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(5) });
    const a = policy.isolate();
    const b = policy.isolate();
    expect(policy.state).toBe('isolated');
    await expect(policy.execute(ok)).rejects.toBeInstanceOf(IsolatedCircuitError);
    a.dispose();
    a.dispose();
    expect(policy.state).toBe('isolated');
    b.dispose();
    expect(policy.state).toBe('closed');
    policy.isolate();
    policy.reset();
    expect(await policy.execute(ok)).toBe('ok');
  });

  it('a handle from before reset() cannot end a newer isolation', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(3) });
    const stale = policy.isolate();
    policy.reset();
    expect(policy.state).toBe('closed');
    const current = policy.isolate();
    stale.dispose();
    expect(policy.state).toBe('isolated');
    await expect(policy.execute(ok)).rejects.toBeInstanceOf(IsolatedCircuitError);
    current.dispose();
    expect(policy.state).toBe('closed');
  });

  it('stats count calls, successes, failures, rejections and time in state', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(2), halfOpenAfterMs: 5000 });
    await policy.execute(ok);
    await failTimes(policy, 2);
    await policy.execute(ok).catch(() => undefined);
    vi.advanceTimersByTime(1234);
    expect(policy.stats()).toEqual({
      calls: 3,
      successes: 1,
      failures: 2,
      ignored: 0,
      rejections: 1,
      state: 'open',
      timeInStateMs: 1234,
    });
  });

  it('events: onBreak, onHalfOpen, onReset, onSuccess, onFailure, and dispose stops them', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 10 });
    const seen: string[] = [];
    const subs = [
      policy.onBreak(() => seen.push('break')),
      policy.onHalfOpen(() => seen.push('half-open')),
      policy.onReset(() => seen.push('reset')),
      policy.onSuccess(() => seen.push('success')),
      policy.onFailure(() => seen.push('failure')),
    ];
    await failTimes(policy, 1);
    vi.advanceTimersByTime(10);
    await policy.execute(ok);
    expect(seen).toEqual(['failure', 'break', 'half-open', 'reset', 'success']);
    for (const s of subs) s.dispose();
    await failTimes(policy, 1);
    expect(seen).toHaveLength(5);
  });

  it('a snapshot restored in a "new process" rejects calls until its open period ends', async () => {
    const first = circuitBreaker({ breaker: new ConsecutiveBreaker(2), halfOpenAfterMs: 60_000 });
    await failTimes(first, 2);
    const saved = JSON.parse(JSON.stringify(first.snapshot()));
    vi.advanceTimersByTime(20_000);
    const second = circuitBreaker({
      breaker: new ConsecutiveBreaker(2),
      halfOpenAfterMs: 60_000,
      initialState: saved,
    });
    expect(second.state).toBe('open');
    const fn = vi.fn(ok);
    const error = await second.execute(fn).catch((e: unknown) => e);
    expect((error as BrokenCircuitError).retryAfterMs).toBe(40_000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(40_000);
    expect(await second.execute(fn)).toBe('ok');
    expect(second.state).toBe('closed');
  });

  it('a snapshot keeps backing off the open duration across processes', async () => {
    const options = {
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfter: exponentialBackoff({
        initialMs: 1000,
        factor: 2,
        maxMs: 60_000,
        jitter: 'none' as const,
      }),
    };
    const first = circuitBreaker(options);
    await failTimes(first, 1);
    vi.advanceTimersByTime(1000);
    await failTimes(first, 1); // the probe fails: open for 2000
    const second = circuitBreaker({
      ...options,
      breaker: new ConsecutiveBreaker(1),
      initialState: first.snapshot(),
    });
    vi.advanceTimersByTime(2000);
    const opens: number[] = [];
    second.onBreak((e) => opens.push(e.openForMs));
    await failTimes(second, 1);
    expect(opens).toEqual([4000]);
  });

  it('a half-open snapshot probes at once; a closed one keeps its failure count', async () => {
    const half = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 10_000,
      initialState: {
        version: 1,
        state: 'half-open',
        since: 0,
        openUntil: Date.now() + 5000,
        openings: 1,
        breaker: { kind: 'consecutive', count: 0 },
      },
    });
    expect(await half.execute(ok)).toBe('ok');
    const first = circuitBreaker({ breaker: new ConsecutiveBreaker(3) });
    await failTimes(first, 2);
    const second = circuitBreaker({ breaker: new ConsecutiveBreaker(3), initialState: first.snapshot() });
    await failTimes(second, 1);
    expect(second.state).toBe('open');
  });

  it('a snapshot with a time far ahead never holds longer than one open period', async () => {
    const policy = circuitBreaker({
      breaker: new ConsecutiveBreaker(1),
      halfOpenAfterMs: 1000,
      initialState: {
        version: 1,
        state: 'open',
        since: 0,
        openUntil: Date.now() + 1e12,
        openings: 1,
        breaker: { kind: 'consecutive', count: 1 },
      },
    });
    vi.advanceTimersByTime(1000);
    expect(await policy.execute(ok)).toBe('ok');
  });

  it('a sampling breaker snapshot drops buckets that went stale while no process ran', async () => {
    const make = (initialState?: unknown) =>
      circuitBreaker({
        breaker: new SamplingBreaker({ threshold: 0.5, windowMs: 10_000, minimumThroughput: 4 }),
        ...(initialState ? { initialState: initialState as never } : {}),
      });
    const first = make();
    await failTimes(first, 3);
    const saved = first.snapshot();
    const soon = make(saved);
    await failTimes(soon, 1);
    expect(soon.state).toBe('open');
    vi.advanceTimersByTime(60_000);
    const later = make(saved);
    await failTimes(later, 1);
    expect(later.state).toBe('closed');
  });

  it.each([
    [{ version: 2 }, 'initialState.version'],
    [{ state: 'ajar' }, 'initialState.state'],
    [{ openUntil: 'soon' }, 'initialState.openUntil'],
    [{ openings: -1 }, 'initialState.openings'],
    [{ breaker: { kind: 'sampling' } }, 'initialState.breaker'],
    [{ breaker: { kind: 'consecutive', count: 1.5 } }, 'initialState.breaker.count'],
  ])('a malformed snapshot %j → ConfigError naming %s', (patch, option) => {
    const good = {
      version: 1,
      state: 'open',
      since: 0,
      openUntil: 0,
      openings: 1,
      breaker: { kind: 'consecutive', count: 0 },
    };
    expect(() =>
      circuitBreaker({ breaker: new ConsecutiveBreaker(1), initialState: { ...good, ...patch } as never }),
    ).toThrow(expect.objectContaining({ kind: 'config', option }));
  });

  it.each([
    [{ breaker: undefined }, 'breaker'],
    [{ breaker: { success() {}, failure: () => true } }, 'breaker'],
    [{ breaker: { ...new ConsecutiveBreaker(1), restore: 1 } }, 'breaker'],
    [{ halfOpenAfterMs: -1 }, 'halfOpenAfterMs'],
    [{ halfOpenAfterMs: Number.NaN }, 'halfOpenAfterMs'],
    [{ halfOpenAfter: 5 }, 'halfOpenAfter'],
    [{ halfOpenMaxProbes: 0 }, 'halfOpenMaxProbes'],
    [{ successThreshold: 0 }, 'successThreshold'],
    [{ isFailure: 'yes' }, 'isFailure'],
    [{ initialState: 'open' }, 'initialState'],
    [{ halfOpenAfterMS: 5 }, 'halfOpenAfterMS'],
  ])('bad configuration %j → ConfigError naming %s', (patch, option) => {
    expect(() => circuitBreaker({ breaker: new ConsecutiveBreaker(1), ...patch } as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });

  it('ConsecutiveBreaker threshold must be an integer >= 1', () => {
    expect(() => new ConsecutiveBreaker(0)).toThrow(expect.objectContaining({ option: 'threshold' }));
    expect(() => new ConsecutiveBreaker(Number.NaN)).toThrow(
      expect.objectContaining({ option: 'threshold' }),
    );
  });

  it('halfOpenAfterMs 0 probes on the very next call', async () => {
    const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 0 });
    await failTimes(policy, 1);
    expect(policy.state).toBe('open');
    expect(await policy.execute(ok)).toBe('ok');
  });

  it('a listener that isolates or resets as the circuit half-opens is not undone by the call that half-opened it', async () => {
    const isolating = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 1000 });
    let handle: { dispose(): void } | undefined;
    isolating.onHalfOpen(() => (handle ??= isolating.isolate()));
    await failTimes(isolating, 1);
    await vi.advanceTimersByTimeAsync(1000);
    // The call that half-opened the circuit is refused: the listener isolated it.
    await expect(isolating.execute(boom)).rejects.toBeInstanceOf(IsolatedCircuitError);
    expect(isolating.state).toBe('isolated');
    await vi.advanceTimersByTimeAsync(5000);
    await expect(isolating.execute(ok)).rejects.toBeInstanceOf(IsolatedCircuitError);
    handle!.dispose();
    expect(isolating.state).not.toBe('isolated');

    const resetting = circuitBreaker({ breaker: new ConsecutiveBreaker(5), halfOpenAfterMs: 1000 });
    resetting.onStateChange((e) => {
      if (e.to === 'half-open') resetting.reset();
    });
    await failTimes(resetting, 5);
    await vi.advanceTimersByTimeAsync(1000);
    // Closed by the listener: this call is an ordinary one, one failure of five, not a probe.
    await expect(resetting.execute(boom)).rejects.toThrow('boom');
    expect(resetting.state).toBe('closed');
    await failTimes(resetting, 3);
    expect(resetting.state).toBe('closed');
  });

  it('a wall clock that steps back or forward neither lengthens nor cuts the open period', async () => {
    for (const stepMs of [-3_600_000, 3_600_000]) {
      const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 1000 });
      await failTimes(policy, 1);
      vi.advanceTimersByTime(400);
      // Date.now() alone jumps, as with an NTP correction; performance.now() and timers go on.
      vi.setSystemTime(Date.now() + stepMs);
      const refused = await policy.execute(ok).catch((e: unknown) => e);
      expect({ stepMs, refused }).toEqual({ stepMs, refused: expect.any(BrokenCircuitError) });
      expect((refused as BrokenCircuitError).retryAfterMs).toBe(600);
      // The snapshot's wall-clock time is what is left of the period on the wall clock now.
      expect(policy.snapshot().openUntil).toBe(Date.now() + 600);
      expect(policy.stats().timeInStateMs).toBe(400);
      vi.advanceTimersByTime(599);
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
      vi.advanceTimersByTime(1);
      expect(await policy.execute(ok)).toBe('ok');
    }
  });

  it('a half-open probe that hangs holds its slot for its period, whatever the wall clock does', async () => {
    for (const stepMs of [-3_600_000, 3_600_000]) {
      const policy = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 2000 });
      await failTimes(policy, 1);
      vi.advanceTimersByTime(2000);
      void policy.execute(() => new Promise(() => {}));
      expect(policy.state).toBe('half-open');
      vi.setSystemTime(Date.now() + stepMs);
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
      vi.advanceTimersByTime(1999);
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
      vi.advanceTimersByTime(1);
      expect(await policy.execute(ok)).toBe('ok');
    }
  });

  it("a Backoff of the app's own that answers Infinity or NaN opens for what a timer can wait, and its snapshot restores", async () => {
    for (const answer of [Infinity, Number.NaN, -5, 3e12]) {
      const policy = circuitBreaker({
        breaker: new ConsecutiveBreaker(1),
        halfOpenAfter: { start: () => ({ next: () => answer }) },
      });
      await failTimes(policy, 1);
      const snapshot = policy.snapshot();
      expect(snapshot.openUntil).not.toBeNull();
      expect(() =>
        circuitBreaker({ breaker: new ConsecutiveBreaker(1), initialState: snapshot }),
      ).not.toThrow();
    }
  });

  it("a Backoff of the app's own that answers a numeric string or a BigInt opens for that many ms, not 0", async () => {
    for (const answer of ['50', 50n]) {
      const policy = circuitBreaker({
        breaker: new ConsecutiveBreaker(1),
        halfOpenAfter: { start: () => ({ next: () => answer as unknown as number }) },
      });
      const opened: unknown[] = [];
      policy.onBreak((e) => opened.push(e.openForMs));
      await failTimes(policy, 1);
      expect(opened).toEqual([50]);
      await vi.advanceTimersByTimeAsync(10);
      await expect(policy.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
      await vi.advanceTimersByTimeAsync(45);
      expect(await policy.execute(ok)).toBe('ok');
    }
  });
});
