import { describe, expect, it } from 'vitest';
import { canonicalJson, contentUuid } from './contentUuid.js';

describe('contentUuid', () => {
  const base = {
    event: 'e',
    distinctId: 'd',
    timestamp: '2026-01-01T00:00:00.000Z',
    properties: { a: 1, b: [1, { c: 2, d: 3 }] },
  };

  it('is a version 8 RFC 9562 uuid, the same for the same content whatever the key order', () => {
    const u = contentUuid(base);
    expect(u).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(contentUuid({ ...base, properties: { b: [1, { d: 3, c: 2 }], a: 1 } })).toBe(u);
  });

  it('differs when anything of the event differs', () => {
    const u = contentUuid(base);
    expect(contentUuid({ ...base, event: 'f' })).not.toBe(u);
    expect(contentUuid({ ...base, distinctId: 'x' })).not.toBe(u);
    expect(contentUuid({ ...base, timestamp: null })).not.toBe(u);
    expect(contentUuid({ ...base, properties: { a: 2, b: [1, { c: 2, d: 3 }] } })).not.toBe(u);
    // Field boundaries are separated: "ab"+"c" is not "a"+"bc".
    expect(contentUuid({ ...base, event: 'ab', distinctId: 'c' })).not.toBe(
      contentUuid({ ...base, event: 'a', distinctId: 'bc' }),
    );
  });

  it('canonicalJson sorts keys at every level and keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 2], c: null } })).toBe('{"a":{"c":null,"d":[3,2]},"b":1}');
  });
});
