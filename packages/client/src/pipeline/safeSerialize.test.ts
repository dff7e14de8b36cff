import { describe, expect, it } from 'vitest';
import { safeClone } from './safeSerialize.js';

const limits = { maxDepth: 4, maxStringLength: 10, maxProperties: 3 };

describe('safeClone', () => {
  it('keeps clean data unchanged and reports no issues', () => {
    const input = { a: 1, b: 'x', c: [true, null], d: { e: 2 } };
    expect(safeClone(input)).toEqual({ value: input, issues: 0 });
  });

  it('replaces cycles but not shared references', () => {
    const shared = { s: 1 };
    const a: Record<string, unknown> = { x: shared, y: shared };
    a.self = a;
    const r = safeClone(a);
    expect(r.value).toEqual({ x: { s: 1 }, y: { s: 1 }, self: '[Circular]' });
    expect(r.issues).toBe(1);
  });

  it.each([
    ['bigint', 10n ** 30n, '1000000000000000000000000000000'],
    ['date', new Date(Date.UTC(2024, 0, 2)), '2024-01-02T00:00:00.000Z'],
    ['invalid date', new Date(NaN), null],
    ['NaN', NaN, null],
    ['Infinity', Infinity, null],
    ['set', new Set([1, 2]), [1, 2]],
    [
      'map',
      new Map<unknown, unknown>([
        ['k', 1],
        [2, 'v'],
      ]),
      { k: 1, '2': 'v' },
    ],
  ])('converts %s', (_name, input, expected) => {
    expect(safeClone({ v: input }).value).toEqual({ v: expected });
  });

  it('drops functions, symbols and undefined from objects, nulls them in arrays', () => {
    const r = safeClone({ f: () => 1, s: Symbol('x'), u: undefined, list: [() => 1, Symbol('y')] });
    expect(r.value).toEqual({ list: [null, null] });
  });

  it('turns errors into name, message, stack', () => {
    const e = new TypeError('boom');
    expect(safeClone({ e }).value).toEqual({ e: { name: 'TypeError', message: 'boom', stack: e.stack } });
  });

  it('applies depth, string and property limits, counting each', () => {
    const r = safeClone(
      { deep: { a: { b: { c: { d: 1 } } } }, long: 'x'.repeat(50), many: [1, 2, 3, 4, 5] },
      limits,
    );
    expect(r.value).toEqual({
      deep: { a: { b: { c: '[Depth]' } } },
      long: 'xxxxxxxxxx…[truncated]',
      many: [1, 2, 3],
    });
    expect(r.issues).toBe(3);
  });

  it('writes what JSON.stringify would for values with toJSON and boxed primitives', () => {
    const url = new URL('https://example.com/a?b=1');
    const decimalLike = { toJSON: () => '12.50', digits: [1, 2, 5] };
    const selfish = {
      toJSON() {
        return this;
      },
    };
    const r = safeClone({
      url,
      price: decimalLike,
      s: new String('x'),
      n: new Number(3),
      b: new Boolean(false),
      nested: { toJSON: () => ({ deep: new URL('https://example.org/') }) },
      selfish,
    });
    expect(r.value).toEqual({
      url: 'https://example.com/a?b=1',
      price: '12.50',
      s: 'x',
      n: 3,
      b: false,
      nested: { deep: 'https://example.org/' },
      selfish: '[Circular]',
    });
    expect(r.issues).toBe(1);
    const throwing = safeClone({
      v: {
        toJSON() {
          throw new Error('toJSON bug');
        },
      },
      ok: 1,
    });
    expect(throwing.value).toEqual({ v: '[Unreadable]', ok: 1 });
  });

  it('survives throwing getters and a Proxy whose traps throw', () => {
    const getter = Object.defineProperty({ ok: 1 }, 'bad', {
      enumerable: true,
      get() {
        throw new Error('nope');
      },
    });
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
        getPrototypeOf() {
          throw new Error('trap');
        },
      },
    );
    const r = safeClone({ getter, proxy });
    expect(r.value).toEqual({ getter: { ok: 1, bad: '[Unreadable]' }, proxy: '[Unreadable]' });
    expect(r.issues).toBe(2);
    expect(() => JSON.stringify(r.value)).not.toThrow();
  });
});

describe('safeClone: "__proto__" keys', () => {
  it('copies an own "__proto__" key (as JSON.parse makes) as a key, not as the prototype', () => {
    const input = JSON.parse('{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}') as object;
    const { value } = safeClone(input);
    const out = value as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out.polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true},"a":{"__proto__":[1]}}');
  });

  it('copies a Map entry keyed "__proto__" as a key', () => {
    const { value } = safeClone(new Map<string, unknown>([['__proto__', { x: 1 }]]));
    expect(JSON.stringify(value)).toBe('{"__proto__":{"x":1}}');
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });
});
