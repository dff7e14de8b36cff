import { describe, expect, it } from 'vitest';
import { checkPlainJsonData } from './plainJsonData.js';
import { compileFieldSet } from './redactFields.js';
import { createPatternRedactor } from './redactPatterns.js';
import { defaultSafeLimits } from './safeSerialize.js';

const RESERVED = ['$lib', '$session_id'];

describe('checkPlainJsonData: keys', () => {
  const fields = compileFieldSet();
  const check = (value: Record<string, unknown>, isClean: (s: string) => boolean, reserved = RESERVED) =>
    checkPlainJsonData(value, defaultSafeLimits, fields, reserved, isClean);

  it('answers plain, not clean, for a key holding PII: the pattern pass must run (it redacts keys)', () => {
    const { isClean } = createPatternRedactor();
    expect(check({ counts: { 'alice@example.com': 3, '10.1.2.3': 1 } }, isClean)).toBe('plain');
    expect(check({ 'user bob@example.com': true }, isClean)).toBe('plain');
    expect(check({ counts: { alice: 3 } }, isClean)).toBe('clean');
  });

  it('remembers the key lists it found clean, and never takes another list for one of them', () => {
    const { isClean } = createPatternRedactor();
    for (let i = 0; i < 3; i++) {
      expect(check({ a: 'x', b: 1, c: { d: true }, e: 'y' }, isClean)).toBe('clean');
    }
    // As many keys, the same first and last: a middle one differs.
    expect(check({ a: 'x', 'b@c.io': 1, c: { d: true }, e: 'y' }, isClean)).toBe('plain');
    expect(check({ a: 'x', password: 1, c: { d: true }, e: 'y' }, isClean)).toBe('no');
    expect(check({ a: 'x', b: 1, c: { '10.1.2.3': true }, e: 'y' }, isClean)).toBe('plain');
    expect(check({ a: 'x', b: 1, c: { d: true }, e: 'y' }, isClean)).toBe('clean');
  });

  it('checks reserved keys at the top level even for a list found clean nested', () => {
    const { isClean } = createPatternRedactor();
    expect(check({ nested: { $lib: 'x', a: 1 } }, isClean)).toBe('clean');
    expect(check({ $lib: 'x', a: 1 }, isClean)).toBe('no');
  });

  it('starts over with another field set or another reserved list', () => {
    const { isClean } = createPatternRedactor();
    expect(check({ token: 'x', a: 1 }, isClean, [])).toBe('no');
    expect(checkPlainJsonData({ token: 'x', a: 1 }, defaultSafeLimits, null, [], isClean)).toBe('clean');
    expect(check({ token: 'x', a: 1 }, isClean, [])).toBe('no');
    expect(check({ a: 1, $lib: 2 }, isClean, [])).toBe('clean');
    expect(check({ a: 1, $lib: 2 }, isClean)).toBe('no');
    // A new array with the same keys, as a caller may make for each call, is the same list.
    expect(check({ a: 1, $lib: 2 }, isClean, [...RESERVED])).toBe('no');
  });

  it('refuses an object with a field to replace before walking its values', () => {
    let reads = 0;
    const value = {
      get a() {
        reads++;
        return 'x';
      },
      password: 'hunter2',
    };
    expect(check(value, createPatternRedactor().isClean)).toBe('no');
    expect(reads).toBe(0);
  });
});
