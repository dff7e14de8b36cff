import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventKey, formatUuid, isLowercaseUuid, uuidKey } from './event-key.js';

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
