import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIso } from './formatIso.js';

describe('formatIso', () => {
  it('gives exactly what toISOString gives, for any date a Date can hold', () => {
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(formatIso(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
    for (const ms of [
      0, 1, 86_399_999, 86_400_000, 253_402_300_799_999, 253_402_300_800_000, -1, 951_782_400_000,
    ]) {
      expect(formatIso(ms)).toBe(new Date(ms).toISOString());
    }
  });

  it('events of the same day, alternating across midnight, stay right', () => {
    const midnight = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 100; i++) {
      const ms = midnight + (i % 2 === 0 ? -1 : 1) * (i * 997);
      expect(formatIso(ms)).toBe(new Date(ms).toISOString());
    }
  });
});
