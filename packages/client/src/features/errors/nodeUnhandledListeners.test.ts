import { EventEmitter } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { createErrorTracker } from './createErrorTracker.js';
import { recordingHost } from './errors.test-helpers.js';
import type { NodeProcessLike } from './runtimeGlobals.js';

/** A stand-in `process` (an EventEmitter with the fields the adapter reads). */
function fakeProcess(execArgv: string[] = []) {
  const ee = new EventEmitter() as EventEmitter & NodeProcessLike;
  Object.assign(ee, { execArgv, env: {}, nextTick: (cb: () => void) => queueMicrotask(cb) });
  return ee;
}
const counts = (p: EventEmitter) =>
  Object.fromEntries(
    [
      'uncaughtExceptionMonitor',
      'uncaughtException',
      'unhandledRejection',
      'newListener',
      'removeListener',
    ].map((e) => [e, p.listenerCount(e)]),
  );

/** Replaces the stand-in's nextTick with one that keeps what its callback throws (the rethrown crash). */
function catchRethrows(proc: EventEmitter): unknown[] {
  const rethrows: unknown[] = [];
  (proc as unknown as { nextTick: (cb: () => void) => void }).nextTick = (cb) => {
    try {
      cb();
    } catch (e) {
      rethrows.push(e);
    }
  };
  return rethrows;
}
const NO_LISTENERS = {
  uncaughtExceptionMonitor: 0,
  uncaughtException: 0,
  unhandledRejection: 0,
  newListener: 0,
  removeListener: 0,
};

describe('Node unhandled-error listeners', () => {
  it('adds a monitor and a crash holder, and removes everything on close', async () => {
    const proc = fakeProcess();
    const t = createErrorTracker(recordingHost(), { globals: { process: proc }, captureUnhandled: true });
    expect(counts(proc)).toEqual({
      uncaughtExceptionMonitor: 1,
      uncaughtException: 1,
      unhandledRejection: 0,
      newListener: 1,
      removeListener: 1,
    });
    await t.close();
    expect(counts(proc)).toEqual(NO_LISTENERS);
  });

  it('listens to unhandledRejection only while the app does', async () => {
    const proc = fakeProcess();
    const host = recordingHost();
    const t = createErrorTracker(host, { globals: { process: proc }, captureUnhandled: true });
    const app = () => {};
    proc.on('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(2);
    proc.emit('unhandledRejection', new Error('r1'), Promise.resolve());
    expect(host.of('$exception')).toEqual([
      expect.objectContaining({ $exception_message: 'r1', $exception_mechanism: 'unhandledRejection' }),
    ]);
    proc.removeListener('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    await t.close();
  });

  it('two clients share one rejection listener, do not count it as the app, and both record', async () => {
    const proc = fakeProcess();
    const hosts = [recordingHost(), recordingHost()];
    const [a, b] = hosts.map((h) =>
      createErrorTracker(h, { globals: { process: proc }, captureUnhandled: true }),
    );
    const app = () => {};
    proc.on('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(2);
    proc.emit('unhandledRejection', new Error('r2'), Promise.resolve());
    for (const h of hosts) expect(h.of('$exception').map((e) => e['$exception_message'])).toEqual(['r2']);
    proc.removeListener('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    await a!.close();
    await b!.close();
  });

  it('any number of clients keep one listener per event on process, and Node prints no warning', async () => {
    const proc = fakeProcess();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const hosts = Array.from({ length: 12 }, () => recordingHost());
      const trackers = hosts.map((h) =>
        createErrorTracker(h, {
          globals: { process: proc },
          captureUnhandled: true,
          persistBeforeCrashMs: 0,
        }),
      );
      proc.on('unhandledRejection', () => {});
      await Promise.resolve();
      expect(counts(proc)).toEqual({
        uncaughtExceptionMonitor: 1,
        uncaughtException: 0,
        unhandledRejection: 2,
        newListener: 1,
        removeListener: 1,
      });
      const crash = new Error('crash');
      proc.emit('uncaughtExceptionMonitor', crash, 'uncaughtException');
      for (const h of hosts) {
        expect(h.of('$exception').map((e) => [e['$exception_message'], e['$exception_level']])).toEqual([
          ['crash', 'fatal'],
        ]);
        expect(h.persisted).toBe(1);
      }
      // Closing some leaves the others listening; closing all takes every listener off.
      for (const t of trackers.slice(0, 11)) await t.close();
      proc.emit('uncaughtExceptionMonitor', new Error('later'), 'uncaughtException');
      expect(hosts.map((h) => h.of('$exception').length)).toEqual([...Array(11).fill(1), 2]);
      await trackers[11]!.close();
      proc.removeAllListeners('unhandledRejection');
      expect(counts(proc)).toEqual(NO_LISTENERS);
      await new Promise((r) => setImmediate(r));
      expect(warnings.map((w) => w.name)).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('several clients holding a crash: one holder waits for every persist(), then one rethrow', async () => {
    const proc = fakeProcess();
    const releases: (() => void)[] = [];
    const hosts = Array.from({ length: 3 }, () => {
      const h = recordingHost();
      h.persist = () => new Promise<void>((r) => releases.push(r));
      return h;
    });
    const trackers = hosts.map((h) =>
      createErrorTracker(h, { globals: { process: proc }, captureUnhandled: true, dedupWindowMs: 0 }),
    );
    expect(proc.listenerCount('uncaughtException')).toBe(1);
    const rethrows = catchRethrows(proc);
    const fatal = new Error('fatal');
    proc.emit('uncaughtExceptionMonitor', fatal, 'uncaughtException');
    proc.emit('uncaughtException', fatal, 'uncaughtException');
    await new Promise((r) => setTimeout(r, 20));
    expect(releases).toHaveLength(3);
    releases[0]!();
    releases[1]!();
    await new Promise((r) => setTimeout(r, 20));
    expect(rethrows).toEqual([]);
    releases[2]!();
    await new Promise((r) => setTimeout(r, 20));
    expect(rethrows).toEqual([fatal]);
    expect(proc.listenerCount('uncaughtException')).toBe(0);
    for (const h of hosts) expect(h.of('$exception')).toHaveLength(1);
    for (const t of trackers) await t.close();
  });

  it('two copies of the package on one process: the first holder called leads, both persist, one rethrow', async () => {
    const proc = fakeProcess();
    vi.resetModules();
    const copies = [
      await import('./nodeUnhandled.js'),
      (vi.resetModules(), await import('./nodeUnhandled.js')),
    ];
    expect(copies[0]!.installNodeUnhandled).not.toBe(copies[1]!.installNodeUnhandled);
    const log: string[] = [];
    const releases: (() => void)[] = [];
    const removes = copies.map((copy, i) =>
      copy.installNodeUnhandled(proc, {
        record: (error, origin, fatal) =>
          log.push(`record ${i} ${(error as Error).message} ${origin} ${fatal}`),
        persist: () => new Promise<void>((r) => releases.push(() => (log.push(`persisted ${i}`), r()))),
        persistBeforeCrashMs: 5_000,
        captureExceptions: true,
        captureRejections: true,
        onInternalError: (e) => log.push(`internal ${String(e)}`),
      }),
    );
    // Each copy has its own listeners, and neither counts the other's as the app's.
    expect(counts(proc)).toMatchObject({ uncaughtExceptionMonitor: 2, uncaughtException: 2 });
    const rethrows = catchRethrows(proc);
    const fatal = new Error('boom');
    proc.emit('uncaughtExceptionMonitor', fatal, 'uncaughtException');
    proc.emit('uncaughtException', fatal, 'uncaughtException');
    await new Promise((r) => setTimeout(r, 20));
    expect(releases).toHaveLength(2);
    for (const r of [...releases]) r();
    await new Promise((r) => setTimeout(r, 20));
    expect(rethrows).toEqual([fatal]);
    expect(log).toEqual([
      'record 0 boom uncaughtException true',
      'record 1 boom uncaughtException true',
      'persisted 0',
      'persisted 1',
    ]);
    expect(proc.listenerCount('uncaughtException')).toBe(0);
    for (const remove of removes) remove();
    expect(counts(proc)).toEqual(NO_LISTENERS);
  });

  it('records an error handled by the app listener as error, a lone crash as fatal; waits for persist', async () => {
    const proc = fakeProcess();
    const host = recordingHost();
    let release!: () => void;
    host.persist = () => new Promise<void>((r) => (release = r));
    const t = createErrorTracker(host, {
      globals: { process: proc },
      captureUnhandled: true,
      dedupWindowMs: 0,
    });
    const app = () => {};
    proc.on('uncaughtException', app);
    const handled = new Error('handled');
    proc.emit('uncaughtExceptionMonitor', handled, 'uncaughtException');
    proc.emit('uncaughtException', handled, 'uncaughtException');
    proc.removeListener('uncaughtException', app);
    const fatal = new Error('fatal');
    proc.emit('uncaughtExceptionMonitor', fatal, 'uncaughtException');
    proc.emit('uncaughtException', fatal, 'uncaughtException');
    expect(host.of('$exception').map((e) => [e['$exception_message'], e['$exception_level']])).toEqual([
      ['handled', 'error'],
      ['fatal', 'fatal'],
    ]);
    // Holding: the rethrow waits for persist().
    await new Promise((r) => setTimeout(r, 20));
    expect(proc.listenerCount('uncaughtException')).toBe(1);
    const rethrown = new Promise<unknown>((resolve) => {
      (proc as unknown as { nextTick: (cb: () => void) => void }).nextTick = (cb) => {
        try {
          cb();
        } catch (e) {
          resolve(e);
        }
      };
    });
    release();
    expect(await rethrown).toBe(fatal);
    expect(proc.listenerCount('uncaughtException')).toBe(0);
    await t.close();
  });

  it('a crash after the app reported the same error is sent, with the counted duplicates, before persist', async () => {
    const proc = fakeProcess();
    const host = recordingHost();
    let atPersist: { event: string; properties: Record<string, unknown> }[] | undefined;
    host.persist = async () => void (atPersist ??= [...host.events]);
    const t = createErrorTracker(host, {
      globals: { process: proc },
      captureUnhandled: true,
      dedupWindowMs: 60_000,
    });
    const error = new Error('db write failed');
    // catch (e) { captureError(e); throw e; }, three times, then it crashes.
    for (let i = 0; i < 3; i++) t.captureError(error);
    const rethrown = new Promise<unknown>((resolve) => {
      (proc as unknown as { nextTick: (cb: () => void) => void }).nextTick = (cb) => {
        try {
          cb();
        } catch (e) {
          resolve(e);
        }
      };
    });
    proc.emit('uncaughtExceptionMonitor', error, 'uncaughtException');
    proc.emit('uncaughtException', error, 'uncaughtException');
    expect(await rethrown).toBe(error);
    const summary = (atPersist ?? []).map((e) => [
      e.event,
      e.properties['$exception_level'] ?? e.properties['$exception_suppressed'],
      e.properties['$exception_handled'],
    ]);
    expect(summary).toEqual([
      ['$exception', 'error', true],
      ['$exception', 'fatal', false],
      ['$exception_duplicates', 2, undefined],
    ]);
    await t.close();
    // Sent once: close() has nothing left to flush.
    expect(host.of('$exception_duplicates')).toHaveLength(1);
  });

  it.each([
    [
      'added with once',
      (proc: EventEmitter, seen: unknown[]) => proc.once('uncaughtException', (e) => seen.push(e)),
    ],
    [
      'that removes itself',
      (proc: EventEmitter, seen: unknown[]) =>
        proc.on('uncaughtException', function handler(e) {
          proc.removeListener('uncaughtException', handler);
          seen.push(e);
        }),
    ],
  ])(
    'an app listener %s, there before the client, handles the exception: no crash, recorded as error',
    async (_, listen) => {
      const proc = fakeProcess();
      const seen: unknown[] = [];
      listen(proc, seen);
      const host = recordingHost();
      const t = createErrorTracker(host, { globals: { process: proc }, captureUnhandled: true });
      const rethrows = catchRethrows(proc);
      const handled = new Error('handled once');
      // As Node does: the monitor, then every listener there when the emit began (the app's
      // is off `process` by the time Homing's runs).
      proc.emit('uncaughtExceptionMonitor', handled, 'uncaughtException');
      proc.emit('uncaughtException', handled, 'uncaughtException');
      await new Promise((r) => setTimeout(r, 20));
      expect(seen).toEqual([handled]);
      expect(rethrows).toEqual([]);
      expect(host.persisted).toBe(0);
      expect(host.of('$exception').map((e) => e['$exception_level'])).toEqual(['error']);
      // The next one has no app listener left: that one is a crash, held and thrown again.
      const fatal = new Error('fatal');
      proc.emit('uncaughtExceptionMonitor', fatal, 'uncaughtException');
      proc.emit('uncaughtException', fatal, 'uncaughtException');
      await new Promise((r) => setTimeout(r, 20));
      expect(rethrows).toEqual([fatal]);
      await t.close();
    },
  );

  it("stops listening to unhandledRejection in the call that removed the app's last listener", async () => {
    const proc = fakeProcess();
    const host = recordingHost();
    const t = createErrorTracker(host, { globals: { process: proc }, captureUnhandled: true });
    const seen: unknown[] = [];
    proc.once('unhandledRejection', (r) => seen.push(r));
    const first = new Error('first');
    // Node emits each pending rejection in one loop, no microtask in between: the second must
    // find no listener, so that Node crashes on it as it would without Homing.
    expect(proc.emit('unhandledRejection', first, Promise.resolve())).toBe(true);
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    expect(proc.emit('unhandledRejection', new Error('second'), Promise.resolve())).toBe(false);
    expect(seen).toEqual([first]);
    expect(host.of('$exception').map((e) => e['$exception_message'])).toEqual(['first']);
    await t.close();
  });

  it('two copies of the package and an app listener: removeAllListeners does not throw, and leaves none', async () => {
    const proc = fakeProcess();
    vi.resetModules();
    const copies = [
      await import('./nodeUnhandled.js'),
      (vi.resetModules(), await import('./nodeUnhandled.js')),
    ];
    const removes = copies.map((copy) =>
      copy.installNodeUnhandled(proc, {
        record: () => {},
        persist: async () => {},
        persistBeforeCrashMs: 0,
        captureExceptions: true,
        captureRejections: true,
        onInternalError: () => {},
      }),
    );
    proc.on('unhandledRejection', () => {});
    expect(proc.listenerCount('unhandledRejection')).toBe(3);
    expect(() => proc.removeAllListeners('unhandledRejection')).not.toThrow();
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    for (const remove of removes) remove();
    expect(counts(proc)).toEqual(NO_LISTENERS);
  });

  it('does not hold crashes under --abort-on-uncaught-exception or with persistBeforeCrashMs 0', async () => {
    for (const [args, ms] of [
      [['--abort-on-uncaught-exception'], 2000],
      [[], 0],
    ] as const) {
      const proc = fakeProcess([...args]);
      const t = createErrorTracker(recordingHost(), {
        globals: { process: proc },
        captureUnhandled: true,
        persistBeforeCrashMs: ms,
      });
      expect(proc.listenerCount('uncaughtException')).toBe(0);
      expect(proc.listenerCount('uncaughtExceptionMonitor')).toBe(1);
      await t.close();
    }
  });
});
