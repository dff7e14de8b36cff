import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventKey, formatUuid, isLowercaseUuid, uuidKey, writeEventKey } from './event-key.js';

describe('eventKey', () => {
  it('is the UUID’s own 16 bytes, whatever the case', () => {
    const u = randomUUID();
    expect(formatUuid(eventKey(u))).toBe(u);
    expect(eventKey(u.toUpperCase())).toEqual(eventKey(u));
    expect(isLowercaseUuid(u)).toBe(true);
    expect(isLowercaseUuid(u.toUpperCase())).toBe(false);
  });

  it('hashes anything that is not a UUID, including UUID-shaped strings with non-hex digits', () => {
    for (const id of [
      '0000000g-0000-4000-8000-000000000000',
      '00000000-0000-4000-8000-00000000000 ',
      'ajs-1',
      'x',
    ]) {
      expect(uuidKey(id)).toBeNull();
      expect(eventKey(id)).toHaveLength(16);
    }
    expect(eventKey('a')).not.toEqual(eventKey('b'));
  });

  it('maps distinct strings to distinct keys (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a.toLowerCase() !== b.toLowerCase() || uuidKey(a) === null);
        if (a === b) return;
        expect(eventKey(a).equals(eventKey(b))).toBe(
          uuidKey(a) !== null && uuidKey(b) !== null && a.toLowerCase() === b.toLowerCase(),
        );
      }),
    );
  });
});

describe('writeEventKey', () => {
  const written = (id: string): { key: Buffer; plain: boolean } => {
    const out = Buffer.alloc(40, 0xee);
    const plain = writeEventKey(id, out, 7);
    expect(out.subarray(0, 7).every((b) => b === 0xee)).toBe(true);
    expect(out.subarray(23).every((b) => b === 0xee)).toBe(true);
    return { key: out.subarray(7, 23), plain };
  };

  it('writes eventKey’s bytes and says whether formatUuid gives the id back (property)', () => {
    const uuidLike = fc
      .tuple(
        fc.uuid(),
        fc.array(fc.tuple(fc.nat(35), fc.constantFrom('A', 'F', 'g', '-', 'é', '0', ' ')), { maxLength: 2 }),
      )
      .map(([u, edits]) => edits.reduce((s, [at, c]) => s.slice(0, at) + c + s.slice(at + 1), u));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.uuid(),
          fc.uuid().map((u) => u.toUpperCase()),
          uuidLike,
        ),
        (id) => {
          const w = written(id);
          expect(w.key.equals(eventKey(id))).toBe(true);
          expect(w.plain).toBe(uuidKey(id) !== null && isLowercaseUuid(id));
          if (w.plain) expect(formatUuid(w.key)).toBe(id);
        },
      ),
      { numRuns: 5000 },
    );
  });
});
