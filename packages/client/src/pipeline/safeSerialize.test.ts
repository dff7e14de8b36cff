import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_JSON_BYTES, safeClone } from './safeSerialize.js';
import { countedLeaf, dag } from './dag.test-helpers.js';

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

  it("names a global scope instead of copying the whole environment (a page's window held all of localStorage)", () => {
    // What a page's window is to Object.prototype.toString; an iframe's comes from another realm.
    class Window {
      localStorage = { session: 'opaque-session-secret' };
      toJSON(): unknown {
        return this.localStorage;
      }
      get [Symbol.toStringTag](): string {
        return 'Window';
      }
    }
    const frame = new Window();
    const r = safeClone({ g: globalThis, frame, via: { toJSON: () => globalThis }, ok: 1 });
    expect(r.value).toEqual({ g: '[globalThis]', frame: '[Window]', via: '[globalThis]', ok: 1 });
    expect(r.issues).toBe(3);
    // An app's own class that only names itself so is still copied.
    class Windowish {
      size = 2;
    }
    expect(safeClone({ w: new Windowish() }).value).toEqual({ w: { size: 2 } });
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

describe('safeClone: a walk bounded by the JSON it would make', () => {
  it('stops a DAG of shared arrays at the byte budget and says the data is too large', () => {
    const { leaf, reads } = countedLeaf();
    // 100^3 = 1 000 000 paths to the one leaf, whose JSON alone would be 9 MB.
    const r = safeClone({ x: dag(leaf, 100, 3) }, undefined, 10_000);
    expect(r.tooLarge).toBe(true);
    expect(r.issues).toBeGreaterThan(0);
    // Each read leaf counts 8 bytes (`{"v":"x"}` and its comma is 10): far fewer reads than bytes.
    expect(reads()).toBeGreaterThan(0);
    expect(reads()).toBeLessThanOrEqual(10_000 / 8);
    // What was cloned is cut short, not walked on: its JSON is about the budget.
    expect(JSON.stringify(r.value).length).toBeLessThan(2 * 10_000);
  });

  it('bounds the walk by the default event size without a budget given', () => {
    const { leaf, reads } = countedLeaf();
    const r = safeClone({ x: dag(leaf, 100, 3) });
    expect(r.tooLarge).toBe(true);
    expect(reads()).toBeLessThanOrEqual(DEFAULT_MAX_JSON_BYTES / 8);
  });

  it('stops errors that hold errors, walked once per path', () => {
    let reads = 0;
    let e: Error = Object.defineProperty(new Error(), 'message', {
      get() {
        reads++;
        return '';
      },
    });
    // Eight around it: the innermost at depth 9 of the clone, within the default maxDepth of 10.
    for (let i = 0; i < 8; i++) {
      const next = new Error();
      Object.assign(next, { name: e, message: e, stack: e });
      e = next;
    }
    // 3^8 = 6 561 paths to the innermost error.
    const r = safeClone({ e }, undefined, 1_000);
    expect(r.tooLarge).toBe(true);
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThanOrEqual(1_000 / 2);
  });

  it('stops a Map at the byte budget', () => {
    const list = new Array<string>(1000).fill('x');
    const map = new Map(Array.from({ length: 1000 }, (_, i) => [i, list]));
    const r = safeClone({ map }, undefined, 10_000);
    expect(r.tooLarge).toBe(true);
    expect(JSON.stringify(r.value).length).toBeLessThan(2 * 10_000);
  });

  it('copies shared references where they occur, as JSON.stringify writes them, within the budget', () => {
    const list = ['a', { b: 1 }];
    const input = { x: [list, list], y: { z: list, w: list } };
    const json = JSON.stringify(input);
    const r = safeClone(input, undefined, json.length);
    expect(r).toEqual({ value: input, issues: 0 });
    expect(r.tooLarge).toBeUndefined();
    expect(JSON.stringify(r.value)).toBe(json);
    // Copies, not the shared arrays themselves.
    const out = r.value as { x: unknown[][] };
    expect(out.x[0]).not.toBe(out.x[1]);
  });

  it('keeps cycles as they were: "[Circular]" on the path, within the budget', () => {
    const a: Record<string, unknown> = { n: 1 };
    a.self = a;
    expect(safeClone({ a }, undefined, 100)).toEqual({
      value: { a: { n: 1, self: '[Circular]' } },
      issues: 1,
    });
  });

  it('never says too large for data whose JSON fits (the count is a lower bound of its UTF-8 bytes)', () => {
    const limits = { maxDepth: 10, maxStringLength: 1_000_000, maxProperties: 1_000_000 };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4, stringUnit: 'grapheme' }), (v) => {
        const r = safeClone(v, limits, Buffer.byteLength(JSON.stringify(v)));
        expect(r.tooLarge).toBeUndefined();
        expect(r.issues).toBe(0);
      }),
      { numRuns: 100 },
    );
  });
});

describe('safeClone: binary data', () => {
  it("gives a Buffer's type, never its bytes (its toJSON listed them, out of reach of redaction)", () => {
    const body = Buffer.from('{"password":"hunter22","email":"ann@example.com"}');
    const r = safeClone({ body, view: new Uint8Array([1, 2, 3]) });
    expect(r.value).toEqual({ body: '[Buffer]', view: '[Uint8Array]' });
    expect(JSON.stringify(r.value)).not.toContain('112');
  });
});
