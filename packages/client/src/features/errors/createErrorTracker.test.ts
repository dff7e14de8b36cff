import { afterEach, describe, expect, it } from 'vitest';
import { createErrorTracker } from './createErrorTracker.js';
import { ErrorTrackingOptionError } from './errors.js';
import { recordingHost } from './errors.test-helpers.js';
import type { ErrorTracker, ExceptionEntry } from './types.js';

const open: ErrorTracker[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});
function tracker(host = recordingHost(), options: Parameters<typeof createErrorTracker>[1] = {}) {
  const t = createErrorTracker(host, { globals: {}, ...options });
  open.push(t);
  return { t, host };
}

function thrower(message: string): Error {
  try {
    throw new TypeError(message);
  } catch (e) {
    return e as Error;
  }
}

describe('captureError', () => {
  it('sends a $exception event with PostHog-like properties and returns its id', () => {
    const { t, host } = tracker();
    t.addBreadcrumb({ category: 'ui', message: 'clicked save', data: { button: 'save' } });
    const id = t.captureError(thrower('bad id 7'), {
      severity: 'warning',
      context: { endpoint: '/api/save' },
      tags: { feature: 'editor', retries: 2, beta: true },
      user: { id: 'u1' },
    });
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const [e] = host.of('$exception');
    expect(e).toMatchObject({
      $exception_id: id,
      $exception_type: 'TypeError',
      $exception_message: 'bad id 7',
      $exception_level: 'warning',
      $exception_handled: true,
      $exception_mechanism: 'manual',
      $exception_suppressed: 0,
      $exception_fingerprint_source: 'computed',
      $exception_tags: { feature: 'editor', retries: 2, beta: true },
      $exception_context: { endpoint: '/api/save' },
      $exception_user: { id: 'u1' },
      $exception_breadcrumbs: [
        { category: 'ui', message: 'clicked save', level: 'info', data: { button: 'save' } },
      ],
    });
    expect(e!['$exception_fingerprint']).toMatch(/^[0-9a-f]{16}$/);
    const list = e!['$exception_list'] as ExceptionEntry[];
    expect(list[0]!.stacktrace.frames[0]).toMatchObject({ function: 'thrower', inApp: true });
    expect(list[0]!.stacktrace.frames[0]!.file).toContain('createErrorTracker.test.ts');
  });

  it.each([
    ['a string', 'plain failure'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 404],
    ['a plain object', { code: 'E_X' }],
    [
      'a cyclic object',
      (() => {
        const a: Record<string, unknown> = {};
        a['self'] = a;
        return a;
      })(),
    ],
    [
      'a Proxy that throws on everything',
      new Proxy(
        {},
        {
          get() {
            throw new Error('x');
          },
          ownKeys() {
            throw new Error('y');
          },
          getPrototypeOf() {
            throw new Error('z');
          },
        },
      ),
    ],
  ])('captures %s without throwing', (_n, value) => {
    const { t, host } = tracker();
    expect(() => t.captureError(value)).not.toThrow();
    expect(host.of('$exception')).toHaveLength(1);
    expect(host.of('$exception')[0]!['$exception_level']).toBe('error');
  });

  it('never throws on bad context and reports what it ignored', () => {
    const { t, host } = tracker();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    const getter = Object.defineProperty({}, 'severity', {
      get: () => {
        throw new Error('no');
      },
    });
    expect(() => t.captureError(new Error('a'), getter as never)).not.toThrow();
    expect(() => t.captureError(new Error('b'), 'nonsense' as never)).not.toThrow();
    expect(() =>
      t.captureError(new Error('c'), {
        severity: 'catastrophic' as never,
        context: cyclic,
        tags: { ok: 'y', bad: { nested: 1 } as never, inf: Infinity },
        fingerprint: 42 as never,
      }),
    ).not.toThrow();
    const sent = host.of('$exception');
    expect(sent).toHaveLength(3);
    expect(sent[2]).toMatchObject({
      $exception_level: 'error',
      $exception_tags: { ok: 'y' },
      $exception_context: { a: 1, self: '[Circular]' },
    });
    expect(host.logs.map((l) => l.message).join('\n')).toMatch(/unknown severity[\s\S]*fingerprint must be/);
  });

  it('keeps a failing host from reaching the app', () => {
    const host = recordingHost();
    host.track = () => {
      throw new Error('pipeline down');
    };
    const { t } = tracker(host);
    expect(() => t.captureError(new Error('x'))).not.toThrow();
    expect(host.logs.some((l) => l.level === 'error')).toBe(true);
  });

  it.each([
    [
      'throws',
      () => {
        throw new Error('clock broke');
      },
    ],
    ['answers NaN', () => Number.NaN],
  ])('with a host clock that %s, captures never throw and use Date.now(); said once', (_, brokenNow) => {
    const host = recordingHost();
    host.now = brokenNow;
    const { t } = tracker(host);
    const before = Date.now();
    const ids: string[] = [];
    t.addBreadcrumb({ category: 'ui', message: 'clicked' });
    // One throw site twice: one group, the second only counted.
    for (let i = 0; i < 2; i++) {
      expect(() => ids.push(t.captureError(thrower('clock test')))).not.toThrow();
    }
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
      expect(parseInt(id.replace('-', '').slice(0, 12), 16)).toBeGreaterThanOrEqual(before);
    }
    const [event] = host.of('$exception');
    expect(host.of('$exception')).toHaveLength(1);
    expect(event!['$exception_breadcrumbs']).toEqual([
      expect.objectContaining({ timestamp: expect.toSatisfy((n: number) => n >= before) }),
    ]);
    const [group] = t.getErrorGroups();
    expect(group).toMatchObject({ count: 2 });
    expect(group!.firstSeen).toBeGreaterThanOrEqual(before);
    expect(group!.lastSeen).toBeGreaterThanOrEqual(group!.firstSeen);
    expect(host.logs.filter((l) => /now\(\)/.test(l.message))).toHaveLength(1);
  });

  it('keeps cause chains and AggregateError in $exception_list', () => {
    const { t, host } = tracker();
    const inner = new Error('db down');
    t.captureError(new AggregateError([new Error('a', { cause: inner })], 'batch failed'));
    const list = host.of('$exception')[0]!['$exception_list'] as ExceptionEntry[];
    expect(list.map((e) => e.value)).toEqual(['batch failed', 'a', 'db down']);
  });

  it('truncates huge messages to maxMessageLength', () => {
    const { t, host } = tracker(undefined, { maxMessageLength: 100 });
    t.captureError(new Error('x'.repeat(5_000_000)));
    expect((host.of('$exception')[0]!['$exception_message'] as string).length).toBeLessThan(120);
  });

  it('does not record after close', async () => {
    const { t, host } = tracker();
    await t.close();
    expect(t.captureError(new Error('late'))).toMatch(/^[0-9a-f-]{36}$/);
    expect(host.of('$exception')).toHaveLength(0);
  });
});

describe('grouping and dedup', () => {
  const bug = (id: number) => {
    try {
      throw new Error(`order ${id} not found`);
    } catch (e) {
      return e;
    }
  };

  it('counts the same fingerprint within the window and sends the count with the next one', () => {
    const { t, host } = tracker(undefined, { dedupWindowMs: 60_000 });
    // One call site: the caller's lines are part of the fingerprint, as they are of the bug.
    const ids: string[] = [];
    for (const i of [1, 2, 3, 4]) {
      if (i === 4) {
        expect(host.of('$exception')).toHaveLength(1);
        host.clock.now += 60_000;
      }
      ids.push(t.captureError(bug(i)));
    }
    expect(new Set(ids).size).toBe(4);
    const sent = host.of('$exception');
    expect(sent).toHaveLength(2);
    expect(sent[1]!['$exception_suppressed']).toBe(2);
    expect(t.getStats()).toMatchObject({ totalErrors: 4, suppressed: 2, uniqueGroups: 1 });
    expect(t.getErrorGroups()).toEqual([
      expect.objectContaining({
        type: 'Error',
        message: 'order 1 not found',
        count: 4,
        firstSeen: host.clock.now - 60_000,
        lastSeen: host.clock.now,
      }),
    ]);
  });

  it('flushes pending counts on close', async () => {
    const { t, host } = tracker();
    const ids = [1, 2, 3].map((i) => t.captureError(bug(i)));
    const first = ids[0];
    await t.close();
    expect(host.of('$exception_duplicates')).toEqual([
      {
        $exception_fingerprint: host.of('$exception')[0]!['$exception_fingerprint'],
        $exception_id: first,
        $exception_suppressed: 2,
      },
    ]);
  });

  it('sends every capture with dedupWindowMs 0', () => {
    const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
    for (let i = 0; i < 5; i++) t.captureError(bug(i));
    expect(host.of('$exception')).toHaveLength(5);
  });

  it('a custom fingerprint overrides grouping', () => {
    const { t, host } = tracker();
    t.captureError(new Error('a'), { fingerprint: ['checkout'] });
    t.captureError(new RangeError('completely different'), { fingerprint: ['checkout'] });
    t.captureError(new Error('a'), { fingerprint: 'other' });
    expect(host.of('$exception')).toHaveLength(2);
    expect(host.of('$exception')[0]!['$exception_fingerprint_source']).toBe('custom');
    expect(t.getErrorGroups().map((g) => g.count)).toEqual([2, 1]);
  });

  it('different bugs are different groups, sorted by count', () => {
    const { t } = tracker();
    const a = () => new Error('user missing');
    const b = () => new TypeError('user missing');
    for (const make of [a, b, b]) t.captureError(make());
    expect(t.getErrorGroups().map((g) => [g.type, g.count])).toEqual([
      ['TypeError', 2],
      ['Error', 1],
    ]);
  });

  it('stays bounded over 10 000 captures of distinct bugs', () => {
    const { t, host } = tracker(undefined, { maxGroups: 100, maxBreadcrumbs: 10 });
    for (let i = 0; i < 10_000; i++) {
      t.addBreadcrumb({ category: 'loop', message: `step ${i}` });
      t.captureError(new Error(`distinct ${i}`), { fingerprint: `bug-${i}` });
    }
    expect(t.getErrorGroups()).toHaveLength(100);
    expect(t.getBreadcrumbs()).toHaveLength(10);
    expect(t.getStats().totalErrors).toBe(10_000);
    expect(host.of('$exception')).toHaveLength(10_000);
    expect((host.of('$exception').at(-1)!['$exception_breadcrumbs'] as unknown[]).length).toBe(10);
  });

  it('sends writable frames of its own while repeats of one stack share one parse', () => {
    const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
    const throwAt = (n: number): Error => {
      try {
        throw new Error(`order ${n} failed`);
      } catch (e) {
        return e as Error;
      }
    };
    const errors = [1, 2, 3].map(throwAt);
    for (const e of errors) t.captureError(e);
    const sent = host.of('$exception');
    expect(sent).toHaveLength(3);
    const frames = sent.map(
      (p) => (p['$exception_list'] as { stacktrace: { frames: object[] } }[])[0]!.stacktrace.frames,
    );
    expect(frames[0]!.length).toBeGreaterThan(0);
    expect(frames[1]).toEqual(frames[0]);
    expect(frames[1]).not.toBe(frames[0]);
    // One group: the messages differ only by a number.
    expect(new Set(sent.map((p) => p['$exception_fingerprint'])).size).toBe(1);
    expect(t.getErrorGroups()).toHaveLength(1);
    expect(Object.isFrozen(frames[0]) || Object.isFrozen(frames[0]![0])).toBe(false);
    (frames[0]![0] as { file: string }).file = 'changed by the pipeline';
    t.captureError(throwAt(4));
    const next = (
      host.of('$exception').at(-1)!['$exception_list'] as { stacktrace: { frames: { file: string }[] } }[]
    )[0]!;
    expect(next.stacktrace.frames[0]!.file).not.toBe('changed by the pipeline');
  });

  describe('an error that reads as one captured before (same name, message and stack)', () => {
    /**
     * Errors made at one place with one message (the caller's line is in the stack too): repeats
     * of one bug, as a failing route throws them.
     */
    const repeats = (causes: unknown[]): Error[] =>
      causes.map((cause) => new Error('payment failed', cause === undefined ? {} : { cause }));

    it('is counted in the same group, and sent whole once its dedup window is over', () => {
      const { t, host } = tracker(undefined, { dedupWindowMs: 60_000 });
      const errors = repeats([undefined, undefined, undefined, undefined, undefined]);
      for (const e of errors.slice(0, 4)) t.captureError(e);
      host.clock.now += 60_000;
      t.captureError(errors[4]);
      const sent = host.of('$exception');
      expect(sent).toHaveLength(2);
      expect(sent[1]!['$exception_fingerprint']).toBe(sent[0]!['$exception_fingerprint']);
      expect(sent[1]!['$exception_list']).toEqual(sent[0]!['$exception_list']);
      expect(sent[1]!['$exception_suppressed']).toBe(3);
      expect(t.getErrorGroups().map((g) => [g.type, g.message, g.count])).toEqual([
        ['Error', 'payment failed', 5],
      ]);
    });

    it('is sent with its own cause chain', () => {
      const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
      for (const e of repeats([undefined, new RangeError('card expired')])) t.captureError(e);
      const lists = host.of('$exception').map((p) => p['$exception_list'] as ExceptionEntry[]);
      expect(lists.map((l) => l.map((e) => e.type))).toEqual([['Error'], ['Error', 'RangeError']]);
      expect(new Set(host.of('$exception').map((p) => p['$exception_fingerprint'])).size).toBe(1);
    });

    it('is typed by its constructor when it has no name, whatever its strings', () => {
      const { t } = tracker();
      class LedgerError extends Error {}
      class QuotaError extends Error {}
      const stack = 'Error: over\n    at charge (/app/billing.js:10:5)';
      for (const E of [LedgerError, QuotaError, LedgerError]) {
        const e = new E('over');
        Object.defineProperty(e, 'name', { value: '' });
        Object.defineProperty(e, 'stack', { value: stack });
        t.captureError(e);
      }
      expect(t.getErrorGroups().map((g) => [g.type, g.count])).toEqual([
        ['LedgerError', 2],
        ['QuotaError', 1],
      ]);
    });

    it("reads each error's name, message and stack once", () => {
      const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
      const reads: string[] = [];
      const stack = new Error('x').stack!;
      const counted = (): object => {
        const e = {};
        for (const [key, value] of Object.entries({ name: 'SyncError', message: 'out of sync', stack })) {
          Object.defineProperty(e, key, {
            get() {
              reads.push(key);
              return value;
            },
          });
        }
        return e;
      };
      t.captureError(counted());
      t.captureError(counted());
      expect(reads.sort()).toEqual(['message', 'message', 'name', 'name', 'stack', 'stack']);
      expect(host.of('$exception').map((p) => p['$exception_type'])).toEqual(['SyncError', 'SyncError']);
    });
  });

  it('names the group of a recovery for the last 1000 errors, and still records older ones', () => {
    const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
    const first = t.captureError(new Error('first'));
    for (let i = 0; i < 1000; i++) t.captureError(new RangeError('filler'));
    const last = t.captureError(new Error('last'));
    t.trackRecovery(last, true);
    t.trackRecovery(first, false);
    const [recent, old] = host.of('$exception_recovery');
    expect(recent!['$exception_fingerprint']).toBe(host.of('$exception').at(-1)!['$exception_fingerprint']);
    expect(old).toMatchObject({ $exception_id: first, $recovered: false });
    expect(old!['$exception_fingerprint']).toBeUndefined();
  });

  it('keeps severity, type and recovery stats', () => {
    const { t, host } = tracker(undefined, { dedupWindowMs: 0 });
    const a = t.captureError(new TypeError('a'), { severity: 'fatal' });
    const b = t.captureError(new Error('b'), { severity: 'info' });
    t.captureError('c');
    t.trackRecovery(a, true, { strategy: 'retry', attempts: 2 });
    t.trackRecovery(b, false, { strategy: 'fallback', attempts: -1 });
    t.trackRecovery('', true);
    t.trackRecovery(a, 'yes' as never);
    const stats = t.getStats();
    expect(stats).toMatchObject({
      totalErrors: 3,
      bySeverity: { fatal: 1, info: 1, error: 1, warning: 0, debug: 0 },
      byType: { TypeError: 1, Error: 2 },
      recoveryAttempts: 2,
      recovered: 1,
      recoveryRate: 0.5,
    });
    expect(host.of('$exception_recovery')).toEqual([
      {
        $exception_id: a,
        $recovered: true,
        $exception_fingerprint: host.of('$exception')[0]!['$exception_fingerprint'],
        $recovery_strategy: 'retry',
        $recovery_attempts: 2,
      },
      expect.objectContaining({ $exception_id: b, $recovered: false, $recovery_strategy: 'fallback' }),
    ]);
    expect(host.of('$exception_recovery')[1]).not.toHaveProperty('$recovery_attempts');
  });
});

describe('breadcrumbs', () => {
  it('keeps the newest maxBreadcrumbs, attaches a copy to each error', () => {
    const { t, host } = tracker(undefined, { maxBreadcrumbs: 3, dedupWindowMs: 0 });
    for (let i = 0; i < 5; i++)
      t.addBreadcrumb({ category: 'c', message: `m${i}`, level: 'debug', timestamp: i });
    t.captureError(new Error('x'));
    t.addBreadcrumb({ category: 'c', message: 'after' });
    const crumbs = host.of('$exception')[0]!['$exception_breadcrumbs'] as { message: string }[];
    expect(crumbs.map((c) => c.message)).toEqual(['m2', 'm3', 'm4']);
    expect(t.getBreadcrumbs().map((c) => c.message)).toEqual(['m3', 'm4', 'after']);
    expect(Object.isFrozen(crumbs[0])).toBe(true);
  });

  it('rejects malformed breadcrumbs without throwing, and bounds their data', () => {
    const { t, host } = tracker();
    t.addBreadcrumb(null as never);
    t.addBreadcrumb({ category: 1, message: 'x' } as never);
    const cyclic: Record<string, unknown> = {};
    cyclic['me'] = cyclic;
    t.addBreadcrumb({
      category: 'c',
      message: 'm'.repeat(10_000),
      level: 'loud' as never,
      data: cyclic,
      timestamp: NaN,
    });
    const [c] = t.getBreadcrumbs();
    expect(t.getBreadcrumbs()).toHaveLength(1);
    expect(c!.message.length).toBeLessThanOrEqual(1025);
    expect(c!.level).toBe('info');
    expect(c!.timestamp).toBe(host.clock.now);
    expect(c!.data).toEqual({ me: '[Circular]' });
    expect(host.logs.filter((l) => l.level === 'warn')).toHaveLength(2);
  });

  it('maxBreadcrumbs 0 keeps none', () => {
    const { t } = tracker(undefined, { maxBreadcrumbs: 0 });
    t.addBreadcrumb({ category: 'c', message: 'm' });
    expect(t.getBreadcrumbs()).toEqual([]);
  });
});

describe('options', () => {
  it.each([
    [{ maxBreadcrumbs: -1 }, 'maxBreadcrumbs'],
    [{ maxBreadcrumbs: 1.5 }, 'maxBreadcrumbs'],
    [{ dedupWindowMs: '60s' }, 'dedupWindowMs'],
    [{ maxGroups: Infinity }, 'maxGroups'],
    [{ captureUnhandled: 'yes' }, 'captureUnhandled'],
    [{ persistBeforeCrashMs: -5 }, 'persistBeforeCrashMs'],
    [{ consoleMethods: ['trace'] }, 'consoleMethods'],
    [{ isInApp: true }, 'isInApp'],
    [{ maxBreadcrumb: 5 }, 'maxBreadcrumb'],
  ])('rejects %o naming the option', (options, option) => {
    let caught: unknown;
    try {
      createErrorTracker(recordingHost(), options as never);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ErrorTrackingOptionError);
    expect(caught).toMatchObject({ kind: 'invalid-option', option });
  });

  it('accepts 0 where 0 means something', async () => {
    const t = createErrorTracker(recordingHost(), {
      globals: {},
      maxBreadcrumbs: 0,
      dedupWindowMs: 0,
      maxGroups: 0,
      persistBeforeCrashMs: 0,
      maxFrames: 0,
      maxCauseDepth: 0,
    });
    t.captureError(new Error('x', { cause: new Error('y') }));
    expect(t.getErrorGroups()).toEqual([]);
    await t.close();
  });
});
