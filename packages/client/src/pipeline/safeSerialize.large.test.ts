import { describe, expect, it } from 'vitest';
import { checkPlainJsonData } from './plainJsonData.js';
import { defaultSafeLimits, safeClone } from './safeSerialize.js';

const limits = { maxDepth: 4, maxStringLength: 100, maxProperties: 10 };

/** A Set that counts the items its iterator hands out. */
function countingSet(size: number): { set: Set<number>; pulled: () => number } {
  const set = new Set<number>();
  for (let i = 0; i < size; i++) set.add(i);
  let pulled = 0;
  const values = Set.prototype.values;
  Object.defineProperty(set, Symbol.iterator, {
    value: function* () {
      for (const v of values.call(set)) {
        pulled++;
        yield v;
      }
    },
  });
  return { set, pulled: () => pulled };
}

/** An object of `n` keys whose `Object.keys` calls are counted. */
function countingKeys(n: number): { obj: object; reads: () => number } {
  const target: Record<string, number> = {};
  for (let i = 0; i < n; i++) target[`k${i}`] = i;
  let reads = 0;
  const obj = new Proxy(target, {
    ownKeys(t) {
      reads++;
      return Reflect.ownKeys(t);
    },
  });
  return { obj, reads: () => reads };
}

describe('safeClone: large collections', () => {
  it('reads a Set only as far as maxProperties, not whole (3 million items cost ~100 ms per event)', () => {
    const { set, pulled } = countingSet(100_000);
    const r = safeClone({ set }, limits);
    expect(r.value).toEqual({ set: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] });
    expect(r.issues).toBe(1);
    expect(pulled()).toBeLessThanOrEqual(limits.maxProperties + 1);
  });

  it('cuts a Set at the byte budget and counts each item at least one byte', () => {
    const set = new Set(Array.from({ length: 500 }, (_, i) => `item-${i}`));
    const r = safeClone({ set }, { ...defaultSafeLimits }, 200);
    expect(r.tooLarge).toBe(true);
    expect((r.value as { set: string[] }).set.length).toBeLessThan(30);
    expect(safeClone(new Set([undefined, () => 1, 'a']))).toEqual({ value: [null, null, 'a'], issues: 1 });
  });

  it('reads the keys of an object with too many once, for the plain-data check and the clone after it', () => {
    const { obj, reads } = countingKeys(50);
    expect(checkPlainJsonData({ big: obj }, limits, null, [])).toBe('no');
    const r = safeClone({ big: obj }, limits);
    expect(Object.keys((r.value as { big: object }).big)).toHaveLength(limits.maxProperties);
    expect(reads()).toBe(1);
    // Handed over once: a later clone reads them again.
    safeClone({ big: obj }, limits);
    expect(reads()).toBe(2);
  });

  it('never hands keys read in an earlier turn to a clone', async () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 50; i++) big[`k${i}`] = i;
    expect(checkPlainJsonData({ big }, limits, null, [])).toBe('no');
    await Promise.resolve();
    for (let i = 0; i < 45; i++) delete big[`k${i}`];
    big.added = 1;
    const r = safeClone({ big }, limits);
    expect(Object.keys((r.value as { big: object }).big)).toEqual([
      'k45',
      'k46',
      'k47',
      'k48',
      'k49',
      'added',
    ]);
  });
});
