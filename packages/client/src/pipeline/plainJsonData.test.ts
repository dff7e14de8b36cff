import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkPlainJsonData, isPlainJsonData } from './plainJsonData.js';
import { createPatternRedactor } from './redactPatterns.js';
import { compileFieldSet } from './redactFields.js';
import { DEFAULT_MAX_JSON_BYTES, defaultSafeLimits, safeClone } from './safeSerialize.js';
import { countedLeaf, dag } from './dag.test-helpers.js';

const limits = { maxDepth: 4, maxStringLength: 10, maxProperties: 3 };
const plain = (v: unknown, l = limits) => isPlainJsonData(v as Record<string, unknown>, l, null, []);

describe('isPlainJsonData', () => {
  it('accepts plain JSON data within the limits, and safeClone would give the same', () => {
    const v = { a: 1, b: 'x', c: [true, null, { d: -0.5 }] };
    expect(plain(v)).toBe(true);
    expect(safeClone(v, limits)).toEqual({ value: v, issues: 0 });
    expect(plain(Object.assign(Object.create(null) as object, { a: 1 }))).toBe(true);
  });

  it.each([
    ['undefined', { a: undefined }],
    ['a function', { a: () => 1 }],
    ['a symbol', { a: Symbol('s') }],
    ['a bigint', { a: 1n }],
    ['NaN', { a: Number.NaN }],
    ['Infinity', { a: [Number.POSITIVE_INFINITY] }],
    ['a Date', { a: new Date(0) }],
    ['a Map', { a: new Map() }],
    ['a class instance', { a: new (class X {})() }],
    ['toJSON', { toJSON: () => 'x' }],
    ['a typed array', { a: new Uint8Array(2) }],
    // eslint-disable-next-line no-sparse-arrays -- a hole is the point of this case
    ['an array hole', { a: [1, , 3] }],
    ['a long string', { a: 'x'.repeat(11) }],
    ['too many keys', { a: 1, b: 2, c: 3, d: 4 }],
    ['too many items', { a: [1, 2, 3, 4] }],
    ['too deep', { a: { b: { c: { d: {} } } } }],
    ['too deep in arrays', { a: [[[[1]]]] }],
  ])('refuses %s (the clone decides what it becomes)', (_, v) => {
    expect(plain(v)).toBe(false);
  });

  it('agrees with safeClone at the depth limit', () => {
    const edge = { a: { b: { c: { d: 1 } } } };
    expect(plain(edge)).toBe(true);
    expect(safeClone(edge, limits).issues).toBe(0);
    const over = { a: { b: { c: { d: {} } } } };
    expect(safeClone(over, limits).issues).toBe(1);
  });

  it('refuses cycles (they run past maxDepth) and shared references are fine', () => {
    const shared = { s: 1 };
    expect(plain({ x: shared, y: shared })).toBe(true);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(plain(cyclic)).toBe(false);
    expect(isPlainJsonData(cyclic, defaultSafeLimits, null, [])).toBe(false);
  });

  it('refuses a throwing getter and a throwing Proxy without throwing', () => {
    const getter = Object.defineProperty({}, 'a', {
      enumerable: true,
      get() {
        throw new Error('boom');
      },
    });
    expect(plain(getter)).toBe(false);
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('trap');
        },
      },
    );
    expect(plain(proxy)).toBe(false);
    expect(plain({ a: proxy })).toBe(false);
  });

  it('refuses a key the field pass would replace, at any depth, in any spelling', () => {
    const fields = compileFieldSet();
    const check = (v: object) => isPlainJsonData(v as Record<string, unknown>, defaultSafeLimits, fields, []);
    expect(check({ user: { name: 'x' } })).toBe(true);
    expect(check({ user: { Pass_Word: 'x' } })).toBe(false);
    expect(check({ list: [{ 'API-KEY': 1 }] })).toBe(false);
  });

  it('refuses a reserved key at the top level only', () => {
    const check = (v: object) =>
      isPlainJsonData(v as Record<string, unknown>, defaultSafeLimits, null, ['$lib']);
    expect(check({ $lib: 'x' })).toBe(false);
    expect(check({ nested: { $lib: 'x' } })).toBe(true);
  });
});

describe('checkPlainJsonData with a string check', () => {
  const { isClean } = createPatternRedactor();
  const check = (v: unknown, clean?: (s: string) => boolean) =>
    checkPlainJsonData(v as Record<string, unknown>, defaultSafeLimits, null, [], clean);

  it('answers clean only when every string, at any depth, passes the check', () => {
    expect(check({ a: 'deploy', b: ['1.2.3', { c: 'eu-west-1' }], n: 3 }, isClean)).toBe('clean');
    expect(check({ a: 'deploy', b: ['1.2.3', { c: 'mail ada@example.com' }] }, isClean)).toBe('plain');
    expect(check({ list: ['x', 'call 415-555-0134'] }, isClean)).toBe('plain');
    expect(check({}, isClean)).toBe('clean');
  });

  it('answers plain without a check, and no whatever the strings when the data is not plain', () => {
    expect(check({ a: 'deploy' })).toBe('plain');
    expect(check({ a: 'deploy', d: new Date(0) }, isClean)).toBe('no');
    const cycle: Record<string, unknown> = { a: 'x' };
    cycle.self = cycle;
    expect(check(cycle, isClean)).toBe('no');
  });

  it('leaves no verdict behind for the next call', () => {
    expect(check({ a: 'ada@example.com' }, isClean)).toBe('plain');
    expect(check({ a: 'fine' }, isClean)).toBe('clean');
    expect(check({ a: 'fine' })).toBe('plain');
  });
});

describe('checkPlainJsonData: a walk bounded by the JSON it would make', () => {
  it('stops a DAG of shared arrays at the byte budget instead of walking every path', () => {
    const { leaf, reads } = countedLeaf();
    // 100^3 = 1 000 000 paths to the one leaf, whose JSON alone would be 9 MB.
    const check = checkPlainJsonData(
      { x: dag(leaf, 100, 3) },
      defaultSafeLimits,
      null,
      [],
      undefined,
      10_000,
    );
    expect(check).toBe('no');
    // Each read leaf counts 8 bytes (`{"v":"x"}` and its comma is 10): far fewer reads than bytes.
    expect(reads()).toBeGreaterThan(0);
    expect(reads()).toBeLessThanOrEqual(10_000 / 8);
  });

  it('bounds the walk by the default event size without a budget given', () => {
    const { leaf, reads } = countedLeaf();
    expect(isPlainJsonData({ x: dag(leaf, 100, 3) }, defaultSafeLimits, null, [])).toBe(false);
    expect(reads()).toBeLessThanOrEqual(DEFAULT_MAX_JSON_BYTES / 8);
  });

  it('accepts a DAG within the budget, which stringifies with its shared parts repeated', () => {
    const list = ['a', 'b'];
    const v = { x: [list, list], y: { z: list } };
    const bytes = JSON.stringify(v).length;
    expect(checkPlainJsonData(v, defaultSafeLimits, null, [], undefined, bytes)).toBe('plain');
    expect(JSON.stringify(v)).toBe('{"x":[["a","b"],["a","b"]],"y":{"z":["a","b"]}}');
  });

  it('refuses only data whose JSON is over the budget (the count is a lower bound of its UTF-8 bytes)', () => {
    const json = fc
      .jsonValue({ maxDepth: 4, stringUnit: 'grapheme' })
      .filter((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    const limits = { maxDepth: 10, maxStringLength: 1_000_000, maxProperties: 1_000_000 };
    fc.assert(
      fc.property(json, (v) => {
        const bytes = Buffer.byteLength(JSON.stringify(v));
        expect(checkPlainJsonData(v as Record<string, unknown>, limits, null, [], undefined, bytes)).not.toBe(
          'no',
        );
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a flat object of long strings over the budget, without checking the strings after it', () => {
    let checked = 0;
    const v = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, 'y'.repeat(1000)]));
    const isClean = () => (checked++, true);
    expect(checkPlainJsonData(v, defaultSafeLimits, null, [], isClean, 10_000)).toBe('no');
    // Each key is checked too: 9 entries fit in the budget.
    expect(checked).toBeLessThanOrEqual(20);
    expect(checkPlainJsonData(v, defaultSafeLimits, null, [], isClean, 200_000)).toBe('clean');
  });
});
