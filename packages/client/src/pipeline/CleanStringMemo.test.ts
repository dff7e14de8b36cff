import { describe, expect, it } from 'vitest';
import { CleanStringMemo } from './CleanStringMemo.js';
import { createPatternRedactor } from './redactPatterns.js';

describe('CleanStringMemo', () => {
  it('remembers short strings and ignores long ones', () => {
    const memo = new CleanStringMemo(10, 8);
    memo.add('deploy');
    memo.add('a-much-longer-value');
    expect(memo.has('deploy')).toBe(true);
    expect(memo.has('a-much-longer-value')).toBe(false);
    expect(memo.has('other')).toBe(false);
    expect(memo.size).toBe(1);
  });

  it('starts over when full, so it never holds more than its bound', () => {
    const memo = new CleanStringMemo(3, 16);
    for (let i = 0; i < 100; i++) {
      memo.add(`v${i}`);
      expect(memo.size).toBeLessThanOrEqual(3);
    }
    expect(memo.has('v99')).toBe(true);
    expect(memo.has('v0')).toBe(false);
  });
});

describe('the pattern pass with its memo of clean strings', () => {
  it('redacts a value that carries PII every time it comes, never remembering it as clean', () => {
    const redact = createPatternRedactor();
    for (let i = 0; i < 5; i++) {
      expect(redact({ to: 'ada@example.com', v: '1.2.3' })).toEqual({ to: '[REDACTED]', v: '1.2.3' });
    }
  });

  it('gives the same answers with a warm memo as with a cold one, over many repeated values', () => {
    const values = [
      'deploy',
      '1.2.3',
      'eu-west-1',
      'ada@example.com',
      'call 415-555-0134 now',
      '4111 1111 1111 1111',
      '10.0.0.1',
      'a1b2c3d4e5f6',
      '0190f0a0-1234-7abc-8def-0123456789ab',
    ];
    const warm = createPatternRedactor();
    for (let round = 0; round < 3; round++) {
      for (const v of values) {
        const cold = createPatternRedactor();
        expect(warm({ v })).toEqual(cold({ v }));
      }
    }
  });

  it('keeps working when unique values overflow the memo', () => {
    const redact = createPatternRedactor();
    for (let i = 0; i < 5_000; i++) redact({ id: `req-${i}` });
    expect(redact({ to: 'ada@example.com', id: 'req-1' })).toEqual({ to: '[REDACTED]', id: 'req-1' });
  });
});

describe('isClean of the pattern pass', () => {
  it('is true exactly when the pass would leave the string as it is', () => {
    const { isClean } = createPatternRedactor();
    for (const s of ['deploy', '1.2.3', '0190f0a0-1234-7abc-8def-0123456789ab', '2026-12-02T19:00:00.000Z']) {
      expect(isClean(s)).toBe(true);
    }
    for (const s of ['ada@example.com', 'Bearer abcdefghijklmnop1234', '4111 1111 1111 1111', '10.0.0.1']) {
      expect(isClean(s)).toBe(false);
    }
  });

  it('is false for a string the pass would cut, and for every string when a custom function runs', () => {
    expect(createPatternRedactor({ maxStringLength: 5 }).isClean('abcdefgh')).toBe(false);
    expect(createPatternRedactor({ maxStringLength: 5 }).isClean('abc')).toBe(true);
    expect(createPatternRedactor({ redact: (s) => s }).isClean('deploy')).toBe(false);
  });
});
