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

  it('with any one character changed, answers NaN or what Date.parse gives for a zoned form', () => {
    const base = fc.integer({ min: 0, max: 253_402_300_799_999 }).map((ms) => new Date(ms).toISOString());
    fc.assert(
      fc.property(base, fc.nat(23), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), (s, at, c) => {
        const t = s.slice(0, at) + c + s.slice(at + 1);
        const ms = parseIsoMs(t);
        if (Number.isNaN(ms)) return;
        // Only a date-time may come out of one change; zone-less ones are UTC.
        const zoned = /(?:Z|[+-]\d\d(?::?\d\d)?)$/i.test(t.slice(19)) ? t : `${t}Z`;
        expect(ms).toBe(Date.parse(zoned.replace(/^(.{10})[ t]/, '$1T')));
      }),
      { numRuns: 20_000 },
    );
  });

  it('reads the ISO 8601 forms SDKs send, zone-less date-times as UTC', () => {
    const cases: [string, string][] = [
      // posthog-node, @segment/analytics-node, posthog-js: toISOString.
      ['2026-12-02T10:00:00.000Z', '2026-12-02T10:00:00.000Z'],
      // posthog-python, analytics-python: isoformat() with an offset, microseconds.
      ['2026-12-02T10:00:00.123456+00:00', '2026-12-02T10:00:00.123Z'],
      ['2026-12-02T10:00:00+01:00', '2026-12-02T09:00:00.000Z'],
      ['2026-12-02T10:00:00-0130', '2026-12-02T11:30:00.000Z'],
      ['2026-12-02T10:00:00+01', '2026-12-02T09:00:00.000Z'],
      ['2026-12-02T10:00:00Z', '2026-12-02T10:00:00.000Z'],
      ['2026-12-02t10:00:00.5z', '2026-12-02T10:00:00.500Z'],
      ['2026-12-02 10:00Z', '2026-12-02T10:00:00.000Z'],
      ['2026-12-02T10:00:00.123456789Z', '2026-12-02T10:00:00.123Z'],
      ['2026-12-02T10:00:00', '2026-12-02T10:00:00.000Z'],
      ['2026-12-02', '2026-12-02T00:00:00.000Z'],
      ['2024-02-29', '2024-02-29T00:00:00.000Z'],
      ['2000-02-29T23:59:59.999Z', '2000-02-29T23:59:59.999Z'],
      ['0000-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z'],
      ['+275760-09-13T00:00:00.000Z', '+275760-09-13T00:00:00.000Z'],
      ['-000001-01-01T00:00:00.000Z', '-000001-01-01T00:00:00.000Z'],
    ];
    for (const [s, iso] of cases) expect([s, new Date(parseIsoMs(s)).toISOString()]).toEqual([s, iso]);
  });

  it("with subMs 'ceil', rounds a fraction finer than a millisecond up, and nothing else", () => {
    const cases: [string, string][] = [
      ['2026-11-01T00:00:10.0009Z', '2026-11-01T00:00:10.001Z'],
      ['2026-11-01T00:00:10.000000001Z', '2026-11-01T00:00:10.001Z'],
      ['2026-11-01T00:00:10.123000000Z', '2026-11-01T00:00:10.123Z'],
      ['2026-11-01T00:00:10.1231+01:00', '2026-10-31T23:00:10.124Z'],
      ['2026-12-31T23:59:59.9999Z', '2027-01-01T00:00:00.000Z'],
      ['-000001-01-01T00:00:00.0001Z', '-000001-01-01T00:00:00.001Z'],
      ['2026-11-01T00:00:10.5Z', '2026-11-01T00:00:10.500Z'],
      ['2026-11-01', '2026-11-01T00:00:00.000Z'],
    ];
    for (const [s, iso] of cases)
      expect([s, new Date(parseIsoMs(s, 'ceil')).toISOString()]).toEqual([s, iso]);
    expect(parseIsoMs('2026-11-01T00:00:10.0009Z')).toBe(Date.parse('2026-11-01T00:00:10.000Z'));
  });

  it('refuses what Date.parse reads leniently, impossible calendar dates and out-of-range fields', () => {
    for (const s of [
      '1',
      '12',
      'hello 5',
      'Tuesday, 2020',
      'Tue, 01 Dec 2026 10:00:00 GMT',
      'December 1, 2026',
      '2026/12/01',
      '1700000000000',
      '2026-02-30T00:00:00.000Z',
      '2026-02-29',
      '2100-02-29',
      '2026-04-31',
      '2026-13-01T10:00:00.000Z',
      '2026-00-01',
      '2026-12-00',
      '2026-12-02T24:00:00.000Z',
      '2026-12-02T23:60:00.000Z',
      '2026-12-02T23:59:60.000Z',
      '2026-12-02T10:00:00.Z',
      '2026-12-02T10:00:00.1234567891Z',
      '2026-12-02T10:00:00+24:00',
      '2026-12-02T10:00:00+01:60',
      '2026-12-02T10:00:00 Z',
      '2026-12-02T10:00:00.000Zjunk',
      '2026-12-02T10',
      '2026-12-02X10:00:00Z',
      '20261202T100000Z',
      '-000000-01-01T00:00:00.000Z',
      '+275760-09-13T00:00:00.001Z',
      '+2026-12-02T10:00:00.000Z',
      ' 2026-12-02',
      '2026-12-02 ',
      '',
    ]) {
      expect([s, parseIsoMs(s)]).toEqual([s, NaN]);
    }
  });
});
