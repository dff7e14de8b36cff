import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PendingKeys } from './sqlite-pending-keys.js';

type Op =
  | { op: 'set'; pk: number; key: number; id: number }
  | { op: 'delete'; pk: number; key: number; id: number }
  | { op: 'get'; pk: number; key: number }
  | { op: 'clear' };

/** 16-byte keys from a small space (so keys repeat), at a random offset in a larger buffer. */
function keyBytes(key: number, at: number): Buffer {
  const b = Buffer.alloc(at + 16 + 3, 0xaa);
  b.writeUInt32BE(key, at);
  b.writeUInt32LE(key * 7, at + 12);
  return b;
}

/** A `set` or `delete` of a key from the small space, with a log id. */
function withId<T extends 'set' | 'delete'>(op: T) {
  return fc.record({
    op: fc.constant(op),
    pk: fc.integer({ min: 1, max: 3 }),
    key: fc.nat(3000),
    id: fc.integer({ min: 1, max: 50 }),
  });
}

describe('PendingKeys', () => {
  it.each([
    { parts: 1, minSlots: 16 },
    { parts: 8, minSlots: 4 },
  ])(
    'answers as a Map keyed by (pk, key) does, through growth, shrinking and deletions (model, $parts table(s))',
    ({ parts, minSlots }) => {
      const op: fc.Arbitrary<Op> = fc.oneof(
        { weight: 5, arbitrary: withId('set') },
        { weight: 4, arbitrary: withId('delete') },
        {
          weight: 3,
          arbitrary: fc.record({
            op: fc.constant('get' as const),
            pk: fc.integer({ min: 1, max: 3 }),
            key: fc.nat(3000),
          }),
        },
        { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 6000 }), fc.nat(7), (ops, at) => {
          const table = new PendingKeys(minSlots, parts);
          const model = new Map<string, number>();
          for (const o of ops) {
            if (o.op === 'clear') {
              table.clear();
              model.clear();
              continue;
            }
            const k = `${o.pk}:${o.key}`;
            const bytes = keyBytes(o.key, at);
            if (o.op === 'set') {
              expect(table.set(o.pk, bytes, at, o.id)).toBe(!model.has(k));
              model.set(k, o.id);
            } else if (o.op === 'delete') {
              const hit = model.get(k) === o.id;
              expect(table.deleteIf(o.pk, bytes, at, o.id)).toBe(hit);
              if (hit) model.delete(k);
            } else {
              expect(table.get(o.pk, bytes, at)).toBe(model.get(k) ?? 0);
            }
            expect(table.size).toBe(model.size);
          }
          for (const [k, id] of model) {
            const [pk, key] = k.split(':').map(Number) as [number, number];
            expect(table.get(pk, keyBytes(key, 0), 0)).toBe(id);
          }
        }),
        { numRuns: 60 },
      );
    },
  );

  it('refuses a number of tables that is not a power of two', () => {
    expect(() => new PendingKeys(16, 3)).toThrow(RangeError);
    expect(() => new PendingKeys(16, 0)).toThrow(RangeError);
    expect(() => new PendingKeys(16, 2048)).toThrow(RangeError);
  });

  it('spreads keys over its tables, so each grows by a part of the backlog', () => {
    const table = new PendingKeys(16, 64);
    const keys = Buffer.alloc(16 * 64_000);
    for (let i = 0; i < 64_000; i++) keys.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i * 16 + 4);
    for (let i = 0; i < 64_000; i++) table.set(1, keys, i * 16, 1);
    const counts = (table as unknown as { tables: { count: number }[] }).tables.map((t) => t.count);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(64_000);
    // About 1 000 each: none empty, none holding a large share.
    expect(Math.min(...counts)).toBeGreaterThan(700);
    expect(Math.max(...counts)).toBeLessThan(1_300);
  });

  it('is empty after clear(), also after growing past the size clear() keeps', () => {
    const table = new PendingKeys();
    const keys = Buffer.alloc(16 * 20_000);
    for (let i = 0; i < 20_000; i++) keys.writeUInt32LE(i, i * 16);
    for (let i = 0; i < 20_000; i++) table.set(1, keys, i * 16, 1);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(1, keys, 5 * 16)).toBe(0);
    expect(table.set(1, keys, 5 * 16, 2)).toBe(true);
    expect(table.get(1, keys, 5 * 16)).toBe(2);
    table.clear();
    expect(table.get(1, keys, 5 * 16)).toBe(0);
  });

  it('keeps every key of a large backlog and forgets them all again', () => {
    const table = new PendingKeys();
    const keys = Buffer.alloc(16 * 200_000);
    for (let i = 0; i < 200_000; i++) keys.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, i * 16 + 4);
    for (let i = 0; i < 200_000; i++) expect(table.set(1, keys, i * 16, 1 + (i >> 7))).toBe(true);
    expect(table.size).toBe(200_000);
    for (let i = 0; i < 200_000; i++) expect(table.get(1, keys, i * 16)).toBe(1 + (i >> 7));
    expect(table.get(2, keys, 0)).toBe(0);
    for (let i = 0; i < 200_000; i++) expect(table.deleteIf(1, keys, i * 16, 1 + (i >> 7))).toBe(true);
    expect(table.size).toBe(0);
    expect(table.get(1, keys, 0)).toBe(0);
  });
});
