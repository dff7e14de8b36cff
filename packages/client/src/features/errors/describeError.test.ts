import { describe, expect, it } from 'vitest';
import { boundedStack, describeError, type DescribeLimits } from './describeError.js';

const limits: DescribeLimits = {
  maxMessageLength: 2048,
  maxStackLength: 65_536,
  maxFrames: 50,
  maxCauseDepth: 5,
  maxExceptions: 10,
};

describe('describeError', () => {
  it('describes an Error with its type, message and frames', () => {
    const [e, ...rest] = describeError(new TypeError('bad id 7'), limits);
    expect(rest).toEqual([]);
    expect(e!.type).toBe('TypeError');
    expect(e!.value).toBe('bad id 7');
    expect(e!.mechanism).toEqual({ type: 'generic', synthetic: false, exception_id: 0 });
    expect(e!.stacktrace.frames[0]!.file).toContain('describeError.test.ts');
  });

  it('uses a custom error class name', () => {
    class PaymentDeclined extends Error {
      override name = 'PaymentDeclined';
    }
    expect(describeError(new PaymentDeclined('card 4242'), limits)[0]!.type).toBe('PaymentDeclined');
  });

  it.each([
    ['a string', 'boom', 'Error', 'boom'],
    ['null', null, 'Error', 'null'],
    ['undefined', undefined, 'Error', 'undefined'],
    ['a number', 42, 'Error', '42'],
    ['a symbol', Symbol('s'), 'Error', 'Symbol(s)'],
    ['a plain object', { a: 1, b: 2 }, 'Error', 'Non-Error exception captured with keys: a, b'],
    ['an object with a message', { message: 'from api', name: 'ApiError' }, 'ApiError', 'from api'],
    ['a class instance', new (class Oops {})(), 'Oops', 'Non-Error exception captured'],
    ['a null-prototype object', Object.create(null) as object, 'Error', 'Non-Error exception captured'],
  ])('describes %s as synthetic', (_n, value, type, message) => {
    const [e] = describeError(value, limits);
    expect(e).toMatchObject({ type, value: message, mechanism: { synthetic: true } });
  });

  it('follows cause chains, stops at cycles and at maxCauseDepth', () => {
    const root = new Error('root');
    const mid = new Error('mid', { cause: root });
    const top = new Error('top', { cause: mid });
    (root as { cause?: unknown }).cause = top; // a cycle
    const list = describeError(top, limits);
    expect(list.map((e) => e.value)).toEqual(['top', 'mid', 'root']);
    expect(list[1]!.mechanism).toMatchObject({
      type: 'cause',
      parent_id: 0,
      exception_id: 1,
      source: 'cause',
    });
    expect(list[2]!.mechanism).toMatchObject({ parent_id: 1 });

    let deep: Error = new Error('e0');
    for (let i = 1; i < 100; i++) deep = new Error(`e${i}`, { cause: deep });
    expect(
      describeError(deep, { ...limits, maxCauseDepth: 3, maxExceptions: 100 }).map((e) => e.value),
    ).toEqual(['e99', 'e98', 'e97', 'e96']);
    expect(describeError(deep, { ...limits, maxCauseDepth: 100 })).toHaveLength(10);
  });

  it('keeps the errors of an AggregateError, and a cause that is not an Error', () => {
    const agg = new AggregateError(
      [new RangeError('r'), 'plain', new Error('x', { cause: { code: 1 } })],
      'all failed',
    );
    const list = describeError(agg, limits);
    expect(list.map((e) => [e.type, e.value, e.mechanism.source])).toEqual([
      ['AggregateError', 'all failed', undefined],
      ['RangeError', 'r', 'errors[0]'],
      ['Error', 'plain', 'errors[1]'],
      ['Error', 'x', 'errors[2]'],
      ['Error', 'Non-Error exception captured with keys: code', 'cause'],
    ]);
    expect(list[4]!.mechanism.parent_id).toBe(3);
  });

  it('survives throwing getters, hostile Proxies and revoked Proxies', () => {
    const getters = new Error('kept');
    for (const k of ['stack', 'name', 'cause', 'errors']) {
      Object.defineProperty(getters, k, {
        get() {
          throw new Error(`getter ${k}`);
        },
      });
    }
    expect(describeError(getters, limits)).toEqual([
      expect.objectContaining({ type: 'Error', value: 'kept', stacktrace: { type: 'parsed', frames: [] } }),
    ]);

    const trap = () => {
      throw new Error('trap');
    };
    const hostile = new Proxy(
      {},
      { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap },
    );
    expect(describeError(hostile, limits)[0]).toMatchObject({ type: 'Error' });

    const { proxy, revoke } = Proxy.revocable(new Error('r'), {});
    revoke();
    expect(describeError(proxy, limits)).toHaveLength(1);

    const badToString = { [Symbol.toPrimitive]: trap, toString: trap };
    expect(() => describeError({ message: badToString }, limits)).not.toThrow();
  });

  it('truncates huge messages and stacks to the limits', () => {
    const e = new Error('m'.repeat(1_000_000));
    e.stack = `Error: x\n${Array.from({ length: 100_000 }, (_, i) => `    at f${i} (/app/a.js:${i}:1)`).join('\n')}`;
    const [d] = describeError(e, { ...limits, maxMessageLength: 100, maxFrames: 30 });
    expect(d!.value).toHaveLength(100 + '…[truncated]'.length);
    expect(d!.value.endsWith('…[truncated]')).toBe(true);
    expect(d!.stacktrace.frames).toHaveLength(30);
    const long = new Error('x');
    long.name = 'N'.repeat(10_000);
    expect(describeError(long, limits)[0]!.type.length).toBeLessThanOrEqual(200 + '…[truncated]'.length);
  });

  it('keeps the frames of an error whose message or name is longer than maxStackLength', () => {
    // An upstream body in the message: ~85 KB, more than the whole stack budget.
    const body = JSON.stringify({
      rows: Array.from({ length: 4000 }, (_, i) => ({ id: i, name: `row${i}` })),
    });
    expect(body.length).toBeGreaterThan(limits.maxStackLength);
    function saveOrder(): Error {
      return new Error(`upstream rejected payload: ${body}`);
    }
    function loadUser(): Error {
      return new Error(`upstream rejected payload: ${body}`);
    }
    const [save] = describeError(saveOrder(), limits);
    const [load] = describeError(loadUser(), limits);
    expect(save!.stacktrace.frames[0]!.function).toBe('saveOrder');
    expect(load!.stacktrace.frames[0]!.function).toBe('loadUser');
    expect(save!.value.endsWith('…[truncated]')).toBe(true);

    const named = new Error('short');
    named.name = 'N'.repeat(100_000);
    named.stack = `${named.name}: short\n    at deep (/app/deep.js:3:7)`;
    expect(describeError(named, limits)[0]!.stacktrace.frames.map((f) => f.function)).toEqual(['deep']);

    // A multi-line message of short lines is skipped too; lines no frame is that long do not spend the budget.
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
    const frames = [
      '    at a (/app/a.js:1:1)',
      `    at ${'x'.repeat(70_000)} (/app/x.js:1:1)`,
      '    at b (/app/b.js:2:2)',
    ];
    const [multi] = describeError(
      { name: 'Error', message: lines, stack: `Error: ${lines}\n${frames.join('\n')}` },
      limits,
    );
    expect(multi!.stacktrace.frames.map((f) => f.function)).toEqual(['a', 'b']);
  });

  it('cuts a long stack at whole lines, within maxStackLength, keeping the innermost frames', () => {
    const frames = Array.from({ length: 10_000 }, (_, i) => `    at f${i} (/app/a.js:${i}:1)`);
    const stack = `Error: ${'m'.repeat(100_000)}\n${frames.join('\n')}`;
    const cut = boundedStack(stack, 1_000);
    expect(cut.length).toBeLessThanOrEqual(1_000);
    expect(cut.split('\n').filter((l) => l !== '')).toEqual(frames.slice(0, cut.split('\n').length - 1));
    expect(boundedStack('Error: x\n    at f (/app/a.js:1:1)', 1_000)).toBe(
      'Error: x\n    at f (/app/a.js:1:1)',
    );
    // Another engine's stack (no message in it): its over-long lines are skipped.
    expect(boundedStack(`${'u'.repeat(5_000)}@x.js:1:1\nf@/app/a.js:2:3`, 1_000)).toBe('f@/app/a.js:2:3');
  });
});
