import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingKeys } from './sqlite-pending-keys.js';

type KeyOp = { op: 'add' | 'put' | 'remove' | 'has'; pk: number; key: number };
type BatchOp = { op: 'addAll'; pk: number; keys: number[] };
type RangeOp = { op: 'forget' | 'rollBack'; share: number };
type Op = KeyOp | BatchOp | RangeOp;

/** 16-byte keys from a small space (so keys repeat), at a random offset in a larger buffer. */
function keyBytes(key: number, at: number): Buffer {
  const b = Buffer.alloc(at + 16 + 3, 0xaa);
  b.writeUInt32BE(key, at);
  b.writeUInt32LE(key * 7, at + 12);
  return b;
}

/** What PendingKeys promises: a Map of key → seq, and the keys in the order of their seqs. */
class Model {
  readonly seqOf = new Map<string, number>();
  readonly keyAt: string[] = [];
  head = 0;

  add(k: string): boolean {
    if (this.seqOf.has(k)) return false;
    this.put(k);
    return true;
  }
  put(k: string): void {
    this.seqOf.set(k, this.keyAt.length);
    this.keyAt.push(k);
  }
  forgetBefore(end: number): void {
    for (let s = this.head; s < end; s++) this.dropIfAt(s);
    this.head = Math.max(this.head, end);
  }
  rollBack(end: number): void {
    for (let s = this.keyAt.length - 1; s >= end; s--) this.dropIfAt(s);
    this.keyAt.length = Math.min(this.keyAt.length, end);
  }
  private dropIfAt(s: number): void {
    const k = this.keyAt[s]!;
    if (this.seqOf.get(k) === s) this.seqOf.delete(k);
  }
}

const keyOp = (op: 'add' | 'put' | 'remove' | 'has') =>
  fc.record({ op: fc.constant(op), pk: fc.integer({ min: 1, max: 3 }), key: fc.nat(400) });
const rangeOp = (op: 'forget' | 'rollBack') =>
  fc.record({ op: fc.constant(op), share: fc.double({ min: 0, max: 1, noNaN: true }) });

describe('PendingKeys', () => {
  it.each([
    { parts: 1, minSlots: 16 },
    { parts: 8, minSlots: 4 },
  ])(
    'answers as a model of seqs does, through growth, shrinking, forgetting and rollbacks ($parts table(s))',
    ({ parts, minSlots }) => {
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 8, arbitrary: keyOp('add') },
        { weight: 2, arbitrary: keyOp('put') },
        { weight: 1, arbitrary: keyOp('remove') },
        { weight: 3, arbitrary: keyOp('has') },
        {
          weight: 2,
          arbitrary: fc.record({
            op: fc.constant('addAll' as const),
            pk: fc.integer({ min: 1, max: 3 }),
            keys: fc.array(fc.nat(400), { maxLength: 20 }),
          }),
        },
        { weight: 1, arbitrary: rangeOp('forget') },
        { weight: 1, arbitrary: rangeOp('rollBack') },
      );
      fc.assert(
        // Long runs (fast-check's default size keeps arrays to a few elements): thousands of keys
        // grow the ring past its first size, and the small key space makes keys repeat.
        fc.property(fc.array(op, { minLength: 1, maxLength: 8000, size: 'max' }), fc.nat(7), (ops, at) => {
          const table = new PendingKeys(minSlots, parts);
          const model = new Model();
          for (const o of ops) {
            if (o.op === 'addAll') {
              const bytes = Buffer.concat(o.keys.map((key) => keyBytes(key, 0).subarray(0, 16)));
              const added: number[] = [];
              table.addAll(o.pk, bytes, o.keys.length, added);
              expect(added).toEqual(o.keys.flatMap((key, i) => (model.add(`${o.pk}:${key}`) ? [i] : [])));
            } else if ('share' in o) {
              const end = model.head + Math.floor(o.share * (model.keyAt.length - model.head));
              if (o.op === 'forget') {
                table.forgetBefore(end);
                model.forgetBefore(end);
              } else {
                table.rollBack(end);
                model.rollBack(end);
              }
            } else {
              const k = `${o.pk}:${o.key}`;
              const bytes = keyBytes(o.key, at);
              if (o.op === 'add') expect(table.add(o.pk, bytes, at)).toBe(model.add(k));
              else if (o.op === 'put') {
                table.put(o.pk, bytes, at);
                model.put(k);
              } else if (o.op === 'remove') expect(table.remove(o.pk, bytes, at)).toBe(model.seqOf.delete(k));
              else expect(table.has(o.pk, bytes, at)).toBe(model.seqOf.has(k));
            }
            expect(table.size).toBe(model.seqOf.size);
            expect(table.end).toBe(model.keyAt.length);
          }
          for (const k of model.seqOf.keys()) {
            const [pk, key] = k.split(':').map(Number) as [number, number];
            expect(table.has(pk, keyBytes(key, 0), 0)).toBe(true);
          }
        }),
        { numRuns: 25 },
      );
    },
    // Long model runs: ~8 s alone, over 30 s with the whole suite on a loaded 2-core machine.
    120_000,
  );

  it('refuses a number of tables or slots that is not a power of two, and ranges it does not hold', () => {
    expect(() => new PendingKeys(16, 3)).toThrow(RangeError);
    expect(() => new PendingKeys(16, 0)).toThrow(RangeError);
    expect(() => new PendingKeys(16, 2048)).toThrow(RangeError);
    expect(() => new PendingKeys(12, 1)).toThrow(RangeError);
    const table = new PendingKeys();
    table.add(1, keyBytes(1, 0), 0);
    expect(() => table.forgetBefore(2)).toThrow(RangeError);
    table.forgetBefore(1);
    expect(() => table.rollBack(0)).toThrow(RangeError);
  });

  it('spreads keys over its tables, so each grows by a part of the backlog', () => {
    const table = new PendingKeys(16, 64);
    const keys = Buffer.alloc(16 * 64_000);
    for (let i = 0; i < 64_000; i++) keys.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i * 16 + 4);
    for (let i = 0; i < 64_000; i++) table.add(1, keys, i * 16);
    const counts = (table as unknown as { tables: { count: number }[] }).tables.map((t) => t.count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(64_000);
    // About 1 000 each: none empty, none holding a large share.
    expect(Math.min(...counts)).toBeGreaterThan(700);
    expect(Math.max(...counts)).toBeLessThan(1_300);
  });

  it('keeps every key of a large backlog and forgets them all again, row by row', () => {
    const table = new PendingKeys(256, 64);
    const keys = Buffer.alloc(16 * 200_000);
    for (let i = 0; i < 200_000; i++) keys.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i * 16 + 4);
    const ends: number[] = [];
    for (let row = 0; row < 2000; row++) {
      const added: number[] = [];
      table.addAll(1, keys.subarray(row * 1600, row * 1600 + 1600), 100, added);
      expect(added).toHaveLength(100);
      ends.push(table.end);
    }
    expect(table.size).toBe(200_000);
    for (let i = 0; i < 200_000; i++) expect(table.has(1, keys, i * 16)).toBe(true);
    expect(table.has(2, keys, 0)).toBe(false);
    expect(table.add(1, keys, 5 * 16)).toBe(false);
    for (let row = 0; row < 2000; row += 200) {
      table.forgetBefore(ends[row + 199]!);
      expect(table.size).toBe(200_000 - (row + 200) * 100);
      expect(table.has(1, keys, (row * 100 + 99) * 16)).toBe(false);
      if (row < 1800) expect(table.has(1, keys, (row + 200) * 100 * 16)).toBe(true);
    }
    expect(table.size).toBe(0);
  });

  it('keeps a key a newer row put again when the older row is forgotten', () => {
    const table = new PendingKeys();
    const a = keyBytes(1, 0);
    const b = keyBytes(2, 0);
    table.add(1, a, 0);
    table.add(1, b, 0);
    const olderRow = table.end;
    table.put(1, a, 0);
    table.forgetBefore(olderRow);
    expect(table.has(1, a, 0)).toBe(true);
    expect(table.has(1, b, 0)).toBe(false);
    table.forgetBefore(table.end);
    expect(table.size).toBe(0);
  });
});
