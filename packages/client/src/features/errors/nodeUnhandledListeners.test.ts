import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
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
    expect(counts(proc)).toEqual({
      uncaughtExceptionMonitor: 0,
      uncaughtException: 0,
      unhandledRejection: 0,
      newListener: 0,
      removeListener: 0,
    });
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

  it('two clients do not count each other as the app: both stop listening to rejections with the app', async () => {
    const proc = fakeProcess();
    const a = createErrorTracker(recordingHost(), { globals: { process: proc }, captureUnhandled: true });
    const b = createErrorTracker(recordingHost(), { globals: { process: proc }, captureUnhandled: true });
    const app = () => {};
    proc.on('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(3);
    proc.removeListener('unhandledRejection', app);
    await Promise.resolve();
    expect(proc.listenerCount('unhandledRejection')).toBe(0);
    await a.close();
    await b.close();
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
