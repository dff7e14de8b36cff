import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIsoMs } from './parse-iso.js';

describe('parseIsoMs', () => {
  it('gives what Date.parse gives for every toISOString output', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        const s = new Date(ms).toISOString();
        expect(parseIsoMs(s)).toBe(Date.parse(s));
      }),
      { numRuns: 20_000 },
    );
  });

  it('gives what Date.parse gives for the same form with any one character changed', () => {
    const base = fc.integer({ min: 0, max: 253_402_300_799_999 }).map((ms) => new Date(ms).toISOString());
    fc.assert(
      fc.property(base, fc.nat(23), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (s, at, c) => {
        const t = s.slice(0, at) + c + s.slice(at + 1);
        expect(Object.is(parseIsoMs(t), Date.parse(t))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('handles out-of-range fields, other forms and days changing between calls as Date.parse does', () => {
    for (const s of [
      '2026-12-02T24:00:00.000Z',
      '2026-12-02T23:60:00.000Z',
      '2026-12-02T23:59:60.000Z',
      '2026-02-30T10:00:00.000Z',
      '2026-13-01T10:00:00.000Z',
      '2026-12-02T10:00:00.000+01:00'.slice(0, 24),
      '2026-12-02T10:00:00Z',
      '2026-12-02T10:00:00.000+01:00',
      '+002026-12-02T10:00:00.000Z',
      '2026-12-02 10:00:00.000Z',
      '2026-12-01T23:59:59.999Z',
      '2026-12-02T00:00:00.000Z',
      '2026-12-01T23:59:59.999Z',
      '0000-01-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
      '',
      'not a date at all, 24 ch',
    ]) {
      expect(Object.is(parseIsoMs(s), Date.parse(s))).toBe(true);
    }
  });
});
