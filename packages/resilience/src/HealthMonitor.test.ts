import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, TaskCancelledError, TaskTimeoutError } from './errors.js';
import { HealthMonitor } from './HealthMonitor.js';
import type { HealthStatus, HealthStatusChange } from './HealthMonitor.js';
import type { HealthCheckResult } from './httpHealthCheck.js';

/** A real HTTP server on 127.0.0.1 whose health we switch, and which we can stop and restart. */
class FlakyServer {
  mode: 'up' | 'down' | 'hang' | 'no-content' = 'up';
  requests: { method: string | undefined; headers: IncomingHttpHeaders }[] = [];
  port = 0;
  #server: Server | undefined;

  async start(port = 0): Promise<void> {
    this.#server = createServer((req, res) => {
      this.requests.push({ method: req.method, headers: req.headers });
      if (this.mode === 'hang') return;
      if (this.mode === 'no-content') res.writeHead(204).end();
      else if (this.mode === 'up') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      else res.writeHead(503, { 'retry-after': '1' }).end('down');
    });
    await new Promise<void>((resolve) => this.#server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/health`;
  }
}

const server = new FlakyServer();
const monitors: HealthMonitor[] = [];

function monitor(options: ConstructorParameters<typeof HealthMonitor>[0] = {}): HealthMonitor {
  const created = new HealthMonitor(options);
  monitors.push(created);
  return created;
}

/** A function check whose answer the test sets, counting its runs. */
function switchable(initial: HealthCheckResult = true) {
  const check = Object.assign(
    async (): Promise<HealthCheckResult> => {
      check.calls++;
      return check.answer;
    },
    { answer: initial, calls: 0 },
  );
  return check;
}

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

beforeAll(() => server.start());
afterAll(() => server.stop());
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  server.mode = 'up';
  server.requests = [];
  await Promise.all(monitors.splice(0).map((m) => m.close()));
});

describe('HealthMonitor: HTTP checks against a real server', () => {
  it('goes unknown → healthy → (threshold) unhealthy → (recovery threshold) healthy', async () => {
    const m = monitor();
    m.register('api', { url: server.url }, { failureThreshold: 2, recoveryThreshold: 2 });
    expect(m.report().checks['api']).toMatchObject({
      status: 'unknown',
      lastCheckedAt: null,
      latencyMs: null,
    });
    expect(m.status).toBe('unknown');

    let report = await m.runNow();
    expect(report.status).toBe('healthy');
    expect(report.checks['api']).toMatchObject({
      status: 'healthy',
      critical: true,
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
      details: { status: 200 },
    });
    expect(Date.parse(report.checks['api']!.lastCheckedAt!)).not.toBeNaN();
    expect(report.checks['api']!.latencyMs).toBeGreaterThanOrEqual(0);

    server.mode = 'down';
    report = await m.runNow();
    expect(report.checks['api']).toMatchObject({ status: 'healthy', consecutiveFailures: 1 });
    expect(report.checks['api']!.lastError).toContain('503');
    report = await m.runNow();
    expect(report.checks['api']).toMatchObject({ status: 'unhealthy', consecutiveFailures: 2 });
    expect(report.status).toBe('unhealthy');

    server.mode = 'up';
    report = await m.runNow();
    expect(report.checks['api']).toMatchObject({ status: 'unhealthy', consecutiveSuccesses: 1 });
    expect(report.checks['api']!.lastError).toBeUndefined();
    report = await m.runNow();
    expect(report.checks['api']).toMatchObject({ status: 'healthy', consecutiveSuccesses: 2 });
    expect(report.status).toBe('healthy');
  });

  it('sees a server that is really gone (connection refused) and comes back on the same port', async () => {
    const own = new FlakyServer();
    await own.start();
    const m = monitor({ failureThreshold: 1 });
    m.register('own', { url: own.url });
    expect((await m.runNow()).status).toBe('healthy');

    const port = own.port;
    await own.stop();
    const down = await m.runNow();
    expect(down.status).toBe('unhealthy');
    expect(down.checks['own']!.lastError).toContain('ECONNREFUSED');

    await own.start(port);
    try {
      expect((await m.runNow()).status).toBe('healthy');
    } finally {
      await own.stop();
    }
  });

  it('sends the method and headers, and accepts the expected statuses only', async () => {
    const m = monitor({ failureThreshold: 1 });
    m.register(
      'head',
      { url: server.url, method: 'HEAD', headers: { 'x-probe': 'homing' }, expectedStatus: [200, 204] },
      { critical: false },
    );
    m.register('strict', { url: server.url, expectedStatus: 204 });
    let report = await m.runNow();
    expect(server.requests.some((r) => r.method === 'HEAD' && r.headers['x-probe'] === 'homing')).toBe(true);
    expect(report.checks['head']!.status).toBe('healthy');
    expect(report.checks['strict']!.status).toBe('unhealthy');
    expect(report.checks['strict']!.lastError).toBe('unexpected status 200 (expected 204)');

    server.mode = 'no-content';
    report = await m.runNow();
    expect(report.checks['head']!.status).toBe('healthy');
    expect(report.checks['strict']!.status).toBe('healthy');
  });

  it('fails a request that hangs past its timeout, aborting it', async () => {
    server.mode = 'hang';
    const m = monitor({ failureThreshold: 1 });
    m.register('slow', { url: server.url }, { timeoutMs: 100 });
    const report = await m.runNow();
    expect(report.checks['slow']!.status).toBe('unhealthy');
    expect(report.checks['slow']!.lastError).toBe(new TaskTimeoutError(100).message);
    // The aborted fetch settles, so the next run really requests again.
    server.mode = 'up';
    await vi.waitFor(async () => expect((await m.runNow()).checks['slow']!.status).toBe('healthy'), {
      timeout: 5000,
    });
  });

  it('runs checks on their interval once started, and close() stops everything', async () => {
    // Requests are counted as they are made: one already on the wire may still reach the server.
    let fetches = 0;
    const counting = (url: string, init: RequestInit): Promise<Response> => {
      fetches++;
      return fetch(url, init);
    };
    const m = monitor({ intervalMs: 15, fetch: counting });
    m.register('api', { url: server.url });
    m.start();
    await vi.waitFor(() => expect(server.requests.length).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    await m.close();
    const seen = fetches;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fetches).toBe(seen);
  });
});

describe('HealthMonitor: thresholds and grace period', () => {
  it('does not turn unhealthy during the grace period, but counts the failures', async () => {
    // The grace period runs on performance.now(): faked alone, timers stay real.
    vi.useFakeTimers({ toFake: ['performance'] });
    const check = switchable(false);
    const m = monitor({ gracePeriodMs: 10_000, failureThreshold: 2 });
    m.register('db', check);
    m.start();
    await vi.waitFor(() => expect(check.calls).toBe(1));
    for (let i = 0; i < 3; i++) await m.runNow();
    expect(m.report().checks['db']).toMatchObject({ status: 'unknown', consecutiveFailures: 4 });
    expect(m.status).toBe('unknown');

    vi.advanceTimersByTime(10_000);
    await m.runNow();
    expect(m.report().checks['db']).toMatchObject({ status: 'unhealthy', consecutiveFailures: 5 });
  });

  it('lets a check become healthy during the grace period, then unhealthy after it', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const check = switchable(true);
    const m = monitor({ gracePeriodMs: 5_000, failureThreshold: 1 });
    m.register('db', check);
    expect((await m.runNow()).status).toBe('healthy');
    check.answer = false;
    vi.advanceTimersByTime(4_999);
    expect((await m.runNow()).status).toBe('healthy');
    vi.advanceTimersByTime(1);
    expect((await m.runNow()).status).toBe('unhealthy');
  });

  it('gives a check registered on a started monitor its own grace period', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const m = monitor({ gracePeriodMs: 1_000, failureThreshold: 1 });
    m.start();
    vi.advanceTimersByTime(50_000);
    const late = switchable(false);
    m.register('late', late);
    await m.runNow();
    expect(m.report().checks['late']!.status).toBe('unknown');
    vi.advanceTimersByTime(1_000);
    await m.runNow();
    expect(m.report().checks['late']!.status).toBe('unhealthy');
  });

  it('keeps the grace period as long as it is when the wall clock steps', async () => {
    const DAY = 86_400_000;
    for (const stepMs of [-DAY, DAY]) {
      vi.useFakeTimers({ toFake: ['Date', 'performance'] });
      const m = monitor({ gracePeriodMs: 300, failureThreshold: 1 });
      m.register('db', () => false);
      await m.runNow();
      // Date.now() alone jumps, as with an NTP correction; performance.now() does not.
      vi.setSystemTime(Date.now() + stepMs);
      await m.runNow();
      expect({ stepMs, status: m.status }).toEqual({ stepMs, status: 'unknown' });
      vi.advanceTimersByTime(1_000);
      await m.runNow();
      expect({ stepMs, status: m.status }).toEqual({ stepMs, status: 'unhealthy' });
      // The report's times are the wall clock's.
      expect(Date.parse(m.report().checks['db']!.lastCheckedAt!)).toBe(Date.now());
      await m.close();
      vi.useRealTimers();
    }
  });

  it.each([
    [1, 1, ['unhealthy']],
    [3, 1, ['unknown', 'unknown', 'unhealthy']],
  ])(
    'failureThreshold %d: statuses after each failure from unknown',
    async (failureThreshold, _r, statuses) => {
      const m = monitor({ failureThreshold });
      m.register('c', switchable(false));
      const seen: HealthStatus[] = [];
      for (let i = 0; i < statuses.length; i++) seen.push((await m.runNow()).checks['c']!.status);
      expect(seen).toEqual(statuses);
    },
  );

  it('resets the failure count on a success', async () => {
    const check = switchable(false);
    const m = monitor({ failureThreshold: 2 });
    m.register('c', check);
    await m.runNow();
    check.answer = true;
    await m.runNow();
    check.answer = false;
    const report = await m.runNow();
    expect(report.checks['c']).toMatchObject({ status: 'healthy', consecutiveFailures: 1 });
  });
});

describe('HealthMonitor: aggregation', () => {
  const cases: [string, [critical: boolean, answer: HealthCheckResult][], HealthStatus][] = [
    [
      'all healthy',
      [
        [true, true],
        [false, true],
      ],
      'healthy',
    ],
    [
      'critical failing',
      [
        [true, false],
        [false, true],
      ],
      'unhealthy',
    ],
    [
      'non-critical failing',
      [
        [true, true],
        [false, false],
      ],
      'degraded',
    ],
    [
      'both failing',
      [
        [true, false],
        [false, false],
      ],
      'unhealthy',
    ],
    [
      'critical degraded',
      [
        [true, { ok: true, degraded: true }],
        [false, true],
      ],
      'degraded',
    ],
    [
      'only non-critical checks, all failing',
      [
        [false, false],
        [false, false],
      ],
      'degraded',
    ],
  ];
  it.each(cases.map(([label, checks, expected]) => ({ label, checks, expected })))(
    '$label → $expected',
    async ({ checks, expected }) => {
      const m = monitor({ failureThreshold: 1 });
      checks.forEach(([critical, answer], i) => m.register(`c${i}`, switchable(answer), { critical }));
      expect((await m.runNow()).status).toBe(expected);
    },
  );

  it('is unknown while a critical check has no result, and ignores an unknown non-critical one', async () => {
    const m = monitor({ failureThreshold: 1 });
    m.register('critical', switchable(true));
    m.register('optional', switchable(true), { critical: false });
    expect(m.status).toBe('unknown');
    await m.runNow('critical');
    expect(m.report().checks['optional']!.status).toBe('unknown');
    expect(m.status).toBe('healthy');
  });

  it('is unknown when every check is unknown, and healthy with no checks', async () => {
    const m = monitor();
    expect(m.report()).toMatchObject({ status: 'healthy', checks: {} });
    m.register('optional', switchable(true), { critical: false });
    expect(m.status).toBe('unknown');
  });

  it('reports a degraded result with its details and message', async () => {
    const m = monitor();
    m.register('disk', async () => ({ ok: true, degraded: true, details: { freePercent: 7 } }));
    const report = await m.runNow();
    expect(report.checks['disk']).toMatchObject({ status: 'degraded', details: { freePercent: 7 } });
    expect(report.status).toBe('degraded');
  });

  it('updates the aggregate when a check is removed', async () => {
    const m = monitor({ failureThreshold: 1 });
    m.register('ok', switchable(true));
    const failing = m.register('bad', switchable(false));
    expect((await m.runNow()).status).toBe('unhealthy');
    failing.dispose();
    expect(m.status).toBe('healthy');
    expect(Object.keys(m.report().checks)).toEqual(['ok']);
    expect(m.unregister('bad')).toBe(false);
  });
});

describe('HealthMonitor: what a check may answer', () => {
  it.each([
    ['true', true, 'healthy', undefined],
    ['nothing', undefined, 'healthy', undefined],
    ['{ ok: true }', { ok: true }, 'healthy', undefined],
    ['false', false, 'unhealthy', 'the check returned false'],
    ['{ ok: false }', { ok: false }, 'unhealthy', 'the check returned ok: false'],
    ['{ ok: false, message }', { ok: false, message: 'replica lag 40 s' }, 'unhealthy', 'replica lag 40 s'],
    ['a string', 'yes', 'unhealthy', 'the check returned neither a boolean nor { ok }'],
    ['null', null, 'unhealthy', 'the check returned neither a boolean nor { ok }'],
    ['{ ok: "true" }', { ok: 'true' }, 'unhealthy', 'the check returned neither a boolean nor { ok }'],
  ])('%s → %s', async (_label, answer, status, lastError) => {
    const m = monitor({ failureThreshold: 1 });
    m.register('c', async () => answer as HealthCheckResult);
    const entry = (await m.runNow()).checks['c']!;
    expect(entry.status).toBe(status);
    expect(entry.lastError).toBe(lastError);
  });

  it('fails a check that throws synchronously or rejects, naming the error and its code', async () => {
    const m = monitor({ failureThreshold: 1 });
    m.register('sync', () => {
      throw new RangeError('bad');
    });
    m.register('async', async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) });
    });
    m.register('string', () => Promise.reject('just a string'));
    const report = await m.runNow();
    expect(report.checks['sync']!.lastError).toBe('RangeError: bad');
    expect(report.checks['async']!.lastError).toBe('TypeError: fetch failed (ECONNRESET)');
    expect(report.checks['string']!.lastError).toBe('just a string');
    expect(report.status).toBe('unhealthy');
  });

  it('aborts the signal of a check that runs past its timeout', async () => {
    const m = monitor({ failureThreshold: 1 });
    let reason: unknown;
    m.register(
      'slow',
      (signal) =>
        new Promise<boolean>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          });
        }),
      { timeoutMs: 30 },
    );
    const report = await m.runNow();
    expect(report.checks['slow']).toMatchObject({
      status: 'unhealthy',
      lastError: new TaskTimeoutError(30).message,
    });
    expect(reason).toBeInstanceOf(TaskTimeoutError);
  });

  it('never starts a check again while a timed-out run that ignores its signal still hangs', async () => {
    const hang = deferred<boolean>();
    let calls = 0;
    const m = monitor({ failureThreshold: 1 });
    m.register(
      'stuck',
      () => {
        calls++;
        return calls === 1 ? hang.promise : true;
      },
      { timeoutMs: 30 },
    );
    expect((await m.runNow()).checks['stuck']!.lastError).toBe(new TaskTimeoutError(30).message);
    const again = await m.runNow();
    expect(again.checks['stuck']).toMatchObject({
      status: 'unhealthy',
      consecutiveFailures: 2,
      lastError: 'the previous run has not settled since it timed out',
    });
    expect(calls).toBe(1);

    hang.resolve(true);
    await vi.waitFor(async () => expect((await m.runNow()).checks['stuck']!.status).toBe('healthy'));
    expect(calls).toBe(2);
  });

  it('never overlaps a check with itself: calls during a run wait for one fresh run', async () => {
    const gate = deferred();
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    const m = monitor();
    m.register('c', async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      if (calls === 1) await gate.promise;
      running--;
      return true;
    });
    const first = m.runNow();
    const waiting = [m.runNow(), m.runNow('c'), m.runNow()];
    await vi.waitFor(() => expect(calls).toBe(1));
    gate.resolve();
    await Promise.all([first, ...waiting]);
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
  });
});

describe('HealthMonitor: events', () => {
  it('emits per-check changes, then the aggregate change; dispose() unsubscribes', async () => {
    const check = switchable(true);
    const m = monitor({ failureThreshold: 1 });
    const changes: HealthStatusChange[] = [];
    const subscription = m.onStatusChange((change) => changes.push(change));
    m.register('db', check, { critical: false });
    expect(changes).toEqual([{ scope: 'aggregate', previous: 'healthy', current: 'unknown' }]);
    await m.runNow();
    check.answer = false;
    await m.runNow();
    await m.runNow(); // no change, no event
    expect(changes.slice(1)).toEqual([
      { scope: 'check', check: 'db', critical: false, previous: 'unknown', current: 'healthy' },
      { scope: 'aggregate', previous: 'unknown', current: 'healthy' },
      {
        scope: 'check',
        check: 'db',
        critical: false,
        previous: 'healthy',
        current: 'unhealthy',
        error: 'the check returned false',
      },
      { scope: 'aggregate', previous: 'healthy', current: 'degraded' },
    ]);
    subscription.dispose();
    check.answer = true;
    await m.runNow();
    expect(changes).toHaveLength(5);
  });

  it("keeps going when a listener throws, and reports its error as every policy's listener errors are", async () => {
    const reported: unknown[] = [];
    const microtask = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((task) => {
      try {
        task();
      } catch (error) {
        reported.push(error);
      }
    });
    try {
      const m = monitor();
      const seen: string[] = [];
      m.onStatusChange(() => {
        throw new Error('listener bug');
      });
      m.onStatusChange((change) => seen.push(change.scope));
      m.register('c', switchable(true));
      await m.runNow();
      expect(seen).toEqual(['aggregate', 'check', 'aggregate']);
      expect(m.status).toBe('healthy');
      expect(reported.map((e) => (e as Error).message)).toEqual([
        'listener bug',
        'listener bug',
        'listener bug',
      ]);
    } finally {
      microtask.mockRestore();
    }
  });

  it('sends nothing after close()', async () => {
    const m = monitor({ failureThreshold: 1 });
    const listener = vi.fn();
    m.onStatusChange(listener);
    await m.close();
    expect(() => m.register('c', switchable(false))).toThrow(ConfigError);
    expect(listener).not.toHaveBeenCalled();
  });
});

describe('HealthMonitor: lifecycle', () => {
  it('runs checks registered before and after start(), on their own intervals', async () => {
    const before = switchable(true);
    const after = switchable(true);
    const m = monitor({ intervalMs: 10 });
    m.register('before', before);
    m.start();
    m.start(); // idempotent
    m.register('after', after, { intervalMs: 20 });
    await vi.waitFor(() => {
      expect(before.calls).toBeGreaterThanOrEqual(3);
      expect(after.calls).toBeGreaterThanOrEqual(2);
    }, 5000);
    await m.close();
    const counts = [before.calls, after.calls];
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect([before.calls, after.calls]).toEqual(counts);
  });

  it('intervalMs 0: a check runs once at start, then only when runNow() asks', async () => {
    const check = switchable(true);
    const m = monitor({ intervalMs: 0 });
    m.register('db', check);
    m.start();
    await vi.waitFor(() => expect(check.calls).toBe(1));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(check.calls).toBe(1);
    await m.runNow();
    expect(check.calls).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(check.calls).toBe(2);
    await m.close();
  });

  it('close() clears every timer and aborts a run in flight', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let reason: unknown;
    const m = monitor({ intervalMs: 1_000 });
    m.register('quick', switchable(true));
    m.register(
      'inflight',
      (signal) =>
        new Promise<boolean>((_resolve, reject) =>
          signal.addEventListener('abort', () => {
            reason = signal.reason;
            reject(signal.reason);
          }),
        ),
    );
    m.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    await m.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(reason).toBeInstanceOf(TaskCancelledError);
    // The aborted run records nothing.
    expect(m.report().checks['inflight']).toMatchObject({ status: 'unknown', consecutiveFailures: 0 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() returns even when a check ignores its signal', async () => {
    const m = monitor();
    m.register('deaf', () => new Promise<boolean>(() => {}), { timeoutMs: 60_000 });
    m.start();
    await m.close();
    expect(m.report().checks['deaf']!.status).toBe('unknown');
    await expect(m.close()).resolves.toBeUndefined();
  });

  it('unrefs its timers so that it never keeps a process alive', async () => {
    const unrefs: boolean[] = [];
    const realSetTimeout = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      const timer = realSetTimeout(fn, ms);
      const unref = timer.unref.bind(timer);
      unrefs.push(false);
      const index = unrefs.length - 1;
      timer.unref = () => {
        unrefs[index] = true;
        return unref();
      };
      return timer;
    }) as typeof setTimeout);
    const m = monitor({ intervalMs: 50 });
    m.register('c', switchable(true));
    m.start();
    await vi.waitFor(() => expect(unrefs.length).toBeGreaterThanOrEqual(2), 5000);
    await m.close();
    expect(unrefs.every(Boolean)).toBe(true);
  });

  it('after close(), runNow() only reports and start() refuses', async () => {
    const check = switchable(true);
    const m = monitor();
    m.register('c', check);
    await m.close();
    expect((await m.runNow()).checks['c']!.status).toBe('unknown');
    expect(check.calls).toBe(0);
    expect(() => m.start()).toThrow(expect.objectContaining({ kind: 'config', option: 'start' }));
  });

  it('reports a check named like an Object.prototype key as a plain entry', async () => {
    const m = monitor();
    m.register('__proto__', switchable(true));
    m.register('constructor', switchable(true));
    const report = await m.runNow();
    expect(Object.keys(report.checks)).toEqual(['__proto__', 'constructor']);
    expect(JSON.parse(JSON.stringify(report)).checks.__proto__.status).toBe('healthy');
  });
});

describe('HealthMonitor: registration handles', () => {
  it("a spent handle's dispose() leaves a newer check of the same name alone", () => {
    const m = monitor();
    const old = m.register('db', () => true);
    old.dispose();
    const current = m.register('db', () => true);
    old.dispose();
    expect(Object.keys(m.report().checks)).toEqual(['db']);
    current.dispose();
    expect(Object.keys(m.report().checks)).toEqual([]);
  });
});

describe('HealthMonitor: a broken clock', () => {
  it('keeps each check on its interval when the clock throws, with no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let readings = 0;
      const m = monitor({
        intervalMs: 5,
        now: () => {
          // The first run's result time reads it, then the second's: that reading throws.
          if (++readings === 2) throw new Error('clock');
          return Date.now();
        },
      });
      const check = switchable(true);
      m.register('db', check);
      m.start();
      await vi.waitFor(() => expect(check.calls).toBeGreaterThanOrEqual(3));
      expect(m.report().checks['db']!.status).toBe('healthy');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('reports with the system clock when the clock answers no time', async () => {
    for (const reading of [Number.NaN, Number.POSITIVE_INFINITY, 1e300, '5' as unknown as number]) {
      const m = monitor({ now: () => reading });
      m.register('db', () => true);
      const report = await m.runNow();
      expect(Number.isNaN(Date.parse(report.timestamp))).toBe(false);
      expect(Number.isNaN(Date.parse(report.checks['db']!.lastCheckedAt!))).toBe(false);
      expect(report.status).toBe('healthy');
    }
  });
});

describe('HealthMonitor: bad configuration', () => {
  it.each([
    ['a negative grace period', { gracePeriodMs: -1 }, 'gracePeriodMs'],
    ['an infinite grace period', { gracePeriodMs: Number.POSITIVE_INFINITY }, 'gracePeriodMs'],
    ['a negative interval', { intervalMs: -1 }, 'intervalMs'],
    ['an interval beyond setTimeout', { intervalMs: 2 ** 31 }, 'intervalMs'],
    ['a NaN timeout', { timeoutMs: Number.NaN }, 'timeoutMs'],
    ['a zero failure threshold', { failureThreshold: 0 }, 'failureThreshold'],
    ['a fractional recovery threshold', { recoveryThreshold: 1.5 }, 'recoveryThreshold'],
    ['a string critical', { critical: 'yes' }, 'critical'],
    ['a fetch that is not a function', { fetch: 'fetch' }, 'fetch'],
    ['a clock that is not a function', { now: 5 }, 'now'],
    ['a misspelt option', { graceperiodMs: 5 }, 'graceperiodMs'],
  ])('monitor: %s → ConfigError naming %s', (_label, options, option) => {
    expect(() => new HealthMonitor(options as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });

  it.each([
    ['a zero timeout', { timeoutMs: 0 }, 'db.timeoutMs'],
    ['a negative interval', { intervalMs: -5 }, 'db.intervalMs'],
    ['a huge threshold', { failureThreshold: 2 ** 60 }, 'db.failureThreshold'],
    ['a misspelt option', { timeout: 5 }, 'db.timeout'],
  ])('check: %s → ConfigError naming %s', (_label, options, option) => {
    const m = monitor();
    expect(() => m.register('db', switchable(), options as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
    expect(m.report().checks).toEqual({});
  });

  it.each([
    ['no url', {}, 'check.url'],
    ['an empty url', { url: '' }, 'check.url'],
    ['an unparsable url', { url: 'http://' }, 'check.url'],
    ['a relative url outside a browser', { url: '/health' }, 'check.url'],
    ['a non-HTTP url', { url: 'ftp://127.0.0.1/health' }, 'check.url'],
    ['a bad method', { url: 'http://127.0.0.1/', method: 'G E T' }, 'check.method'],
    ['a status out of range', { url: 'http://127.0.0.1/', expectedStatus: 700 }, 'check.expectedStatus'],
    ['an empty status list', { url: 'http://127.0.0.1/', expectedStatus: [] }, 'check.expectedStatus'],
    ['a header that is not a string', { url: 'http://127.0.0.1/', headers: { a: 1 } }, 'check.headers'],
    ['an unknown key', { url: 'http://127.0.0.1/', timeout: 5 }, 'check.timeout'],
  ])('HTTP check: %s → ConfigError naming %s', (_label, spec, option) => {
    const m = monitor();
    expect(() => m.register('api', spec as never)).toThrow(
      expect.objectContaining({ kind: 'config', option }),
    );
  });

  it('refuses bad names, duplicates, and a check that is neither a function nor { url }', () => {
    const m = monitor();
    m.register('db', switchable());
    expect(() => m.register('db', switchable())).toThrow(expect.objectContaining({ option: 'name' }));
    expect(() => m.register('', switchable())).toThrow(expect.objectContaining({ option: 'name' }));
    expect(() => m.register(5 as never, switchable())).toThrow(expect.objectContaining({ option: 'name' }));
    expect(() => m.register('x', null as never)).toThrow(expect.objectContaining({ option: 'check' }));
    expect(() => m.register('y', switchable(), null as never)).toThrow(ConfigError);
    expect(() => m.onStatusChange('listener' as never)).toThrow(
      expect.objectContaining({ option: 'listener' }),
    );
    return expect(m.runNow('missing')).rejects.toThrow(expect.objectContaining({ option: 'name' }));
  });
});
