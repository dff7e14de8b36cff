import { describe, expect, it } from 'vitest';
import { computeFingerprint } from './fingerprint.js';
import { FingerprintMemo } from './FingerprintMemo.js';
import type { ExceptionEntry, StackFrame } from './types.js';

const frame = (line: number): StackFrame =>
  Object.freeze({ file: '/app/a.js', line, column: 1, function: 'f', inApp: true });
const entry = (frames: StackFrame[], value: string, type = 'Error'): ExceptionEntry => ({
  type,
  value,
  stacktrace: { type: 'parsed', frames },
  mechanism: { type: 'generic', synthetic: false, exception_id: 0 },
});

describe('FingerprintMemo', () => {
  it('computes once per stack, type and message, and answers as computeFingerprint does', () => {
    let computed = 0;
    const memo = new FingerprintMemo((e) => (computed++, computeFingerprint(e, 3)));
    const shared = Object.freeze([frame(1), frame(2)]) as StackFrame[];
    const a = memo.of(entry(shared, 'order 1 failed'));
    expect(memo.of(entry(shared, 'order 1 failed'))).toBe(a);
    expect(computed).toBe(1);
    expect(a).toBe(computeFingerprint(entry(shared, 'order 1 failed'), 3));
    // Another message or type on the same stack is computed, and groups as computeFingerprint says.
    expect(memo.of(entry(shared, 'order 2 failed'))).toBe(a); // numbers are normalised away
    expect(memo.of(entry(shared, 'order 1 failed', 'TypeError'))).not.toBe(a);
    expect(computed).toBe(3);
  });

  it('never remembers frames that are not shared (not frozen)', () => {
    let computed = 0;
    const memo = new FingerprintMemo((e) => (computed++, computeFingerprint(e, 3)));
    memo.of(entry([frame(1)], 'x'));
    memo.of(entry([frame(1)], 'x'));
    expect(computed).toBe(2);
  });

  it('keeps at most 64 messages per stack, and stays right after starting over', () => {
    let computed = 0;
    const memo = new FingerprintMemo((e) => (computed++, computeFingerprint(e, 3)));
    const shared = Object.freeze([frame(7)]) as StackFrame[];
    for (let i = 0; i < 200; i++) memo.of(entry(shared, `message ${'x'.repeat(i)}`));
    expect(computed).toBe(200);
    const last = `message ${'x'.repeat(199)}`;
    expect(memo.of(entry(shared, last))).toBe(computeFingerprint(entry(shared, last), 3));
    expect(computed).toBe(200);
  });
});
