import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from './errors.js';
import { parseHttpDate, parseRetryAfter } from './retryAfter.js';

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0); // Tue, 24 Nov 2026 12:00:00 GMT

describe('parseRetryAfter: delta-seconds', () => {
  it.each([
    ['0', 0],
    ['1', 1000],
    ['120', 120_000],
    ['  30  ', 30_000],
    ['007', 7000],
    ['1.5', 1500],
    ['0.0001', 1],
    ['86400', 86_400_000],
  ])('%j → %d ms', (value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('returns huge values as they are, for the caller to cap', () => {
    expect(parseRetryAfter('31536000000', NOW)).toBe(31_536_000_000_000);
  });

  it('clamps an overflowing value instead of returning Infinity', () => {
    const result = parseRetryAfter('9'.repeat(400), NOW);
    expect(result).toBe(Number.MAX_SAFE_INTEGER);
    expect(Number.isFinite(result)).toBe(true);
  });

  it('reads the first value of an array (Node header arrays)', () => {
    expect(parseRetryAfter(['5', '10'], NOW)).toBe(5000);
  });

  it('accepts a number of seconds', () => {
    expect(parseRetryAfter(2, NOW)).toBe(2000);
    expect(parseRetryAfter(-2, NOW)).toBeUndefined();
    expect(parseRetryAfter(Number.NaN, NOW)).toBeUndefined();
    expect(parseRetryAfter(Number.POSITIVE_INFINITY, NOW)).toBeUndefined();
  });
});

describe('parseRetryAfter: HTTP-date', () => {
  it.each([
    ['IMF-fixdate', 'Tue, 24 Nov 2026 12:00:30 GMT', 30_000],
    ['IMF-fixdate, lower case names', 'tue, 24 nov 2026 12:01:00 gmt', 60_000],
    ['RFC 850', 'Tuesday, 24-Nov-26 12:00:10 GMT', 10_000],
    ['asctime, one-digit day', 'Wed Dec  2 12:00:00 2026', 8 * 86_400_000],
    ['asctime, two-digit day', 'Tue Nov 24 12:00:05 2026', 5000],
    ['leap second', 'Tue, 24 Nov 2026 12:00:60 GMT', 60_000],
  ])('%s: %j', (_form, value, expected) => {
    expect(parseRetryAfter(value, NOW)).toBe(expected);
  });

  it('gives 0 for a date in the past', () => {
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('Tue, 24 Nov 2026 11:59:59 GMT', NOW)).toBe(0);
  });

  it('measures against Date.now() when no clock is given', () => {
    const inAnHour = new Date(Date.now() + 3_600_000).toUTCString();
    const result = parseRetryAfter(inAnHour);
    expect(result).toBeGreaterThan(3_500_000);
    expect(result).toBeLessThanOrEqual(3_600_000);
  });

  it('reads an RFC 850 two-digit year more than 50 years ahead as the past century', () => {
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', NOW)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 06-Nov-62 08:49:37 GMT', NOW)).toBe(Date.UTC(2062, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Monday, 06-Nov-77 08:49:37 GMT', NOW)).toBe(Date.UTC(1977, 10, 6, 8, 49, 37));
  });

  it('reads four-digit years below 100 literally, not as 19xx', () => {
    const expected = new Date(0);
    expected.setUTCFullYear(94, 10, 6);
    expected.setUTCHours(8, 49, 37, 0);
    expect(parseHttpDate('Sun, 06 Nov 0094 08:49:37 GMT', NOW)).toBe(expected.getTime());
  });
});

describe('parseRetryAfter: garbage', () => {
  it.each([
    [undefined],
    [null],
    [''],
    ['   '],
    ['-1'],
    ['-0.5'],
    ['+5'],
    ['1e3'],
    ['0x10'],
    ['5 seconds'],
    ['soon'],
    ['1'.padEnd(3, ' ') + 'x'],
    ['Infinity'],
    ['NaN'],
    ['.5'],
    ['5.'],
    // Date.parse would accept these; a Retry-After must not.
    ['2026-11-24T12:00:30Z'],
    ['Tue Nov 24 2026'],
    ['soon 5'],
    // Impossible dates and times.
    ['Tue, 31 Feb 2026 12:00:00 GMT'],
    ['Tue, 00 Nov 2026 12:00:00 GMT'],
    ['Tue, 24 Nov 2026 24:00:00 GMT'],
    ['Tue, 24 Nov 2026 12:60:00 GMT'],
    ['Tue, 24 Nov 2026 12:00:61 GMT'],
    ['Tue, 24 Foo 2026 12:00:00 GMT'],
    ['Tue, 24 Nov 2026 12:00:00 PST'],
    ['Tue,24 Nov 2026 12:00:00 GMT'],
    [[]],
    [{}],
    [true],
  ])('%j → undefined', (value) => {
    expect(parseRetryAfter(value as never, NOW)).toBeUndefined();
  });

  it('rejects a clock that is not a finite number', () => {
    expect(() => parseRetryAfter('5', Number.NaN)).toThrow(ConfigError);
    expect(() => parseRetryAfter('5', '0' as never)).toThrow(expect.objectContaining({ option: 'nowMs' }));
  });
});

describe('parseRetryAfter: properties', () => {
  it('reads any whole number of seconds', () => {
    fc.assert(
      fc.property(fc.nat(), (seconds) => {
        expect(parseRetryAfter(String(seconds), NOW)).toBe(seconds * 1000);
      }),
    );
  });

  it('reads any IMF-fixdate as the time left until it, never negative', () => {
    const min = Date.UTC(1000, 0, 1);
    const max = Date.UTC(9999, 11, 31, 23, 59, 59);
    fc.assert(
      fc.property(fc.integer({ min: min / 1000, max: max / 1000 }), (seconds) => {
        const at = seconds * 1000;
        expect(parseRetryAfter(new Date(at).toUTCString(), NOW)).toBe(Math.max(0, at - NOW));
      }),
    );
  });

  it('never throws on any string, and gives undefined or a finite delay >= 0', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        const result = parseRetryAfter(text, NOW);
        if (result !== undefined) {
          expect(Number.isFinite(result)).toBe(true);
          expect(result).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });
});
