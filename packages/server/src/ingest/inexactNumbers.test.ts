import { describe, expect, it } from 'vitest';
import { parsesExactly, quoteNumbers } from './inexactNumbers.js';
import { MAX_LONG_NUMBERS, parsePayload } from './parsePayload.js';

const parse = (body: string) =>
  parsePayload(Buffer.from(body), { contentType: 'application/json', compression: undefined, maxDepth: 99 });

describe('numbers JSON.parse cannot hold as sent', () => {
  it('parsesExactly: safe integers and ordinary floats yes; integers past 2^53, overflow and underflow no', () => {
    // Past 2^53, a number whose double writes back as the same text (2 ** 60 as a JavaScript sender writes it, 1e20) stays a number.
    for (const ok of [String(2 ** 60), String(2 ** 53), '100000000000000000000', '-1152921504606847000'])
      expect(parsesExactly(ok), ok).toBe(true);
    for (const ok of [
      '0',
      '-0',
      '9007199254740991',
      '-9007199254740991',
      '1234567890123456',
      '1e300',
      '-1.5e-300',
      '0e500',
      '0.000e-999',
      '3.141592653589793238462643383279',
      '1e21',
    ])
      expect(parsesExactly(ok), ok).toBe(true);
    // The same double but other text: -2^63 in full (a Go or Java int64) would be exported as -9223372036854776000.
    for (const no of ['-9223372036854775808', '1180591620717411303424'])
      expect(parsesExactly(no), no).toBe(false);
    for (const no of [
      '9007199254740993',
      '1234567890123456789',
      '-1234567890123456789',
      '1e400',
      '-1e400',
      '1E309',
      '1e-400',
      '-2.5e-999',
      `1${'0'.repeat(400)}.5`,
    ])
      expect(parsesExactly(no), no).toBe(false);
    // What is no JSON number is left for JSON.parse to refuse, never made valid.
    for (const bad of ['1e5e5', '01', '1.', '-', '1.2.3', '+1', '1e'])
      expect(parsesExactly(bad), bad).toBe(true);
  });

  it('quoteNumbers writes the spans as strings of the same characters', () => {
    expect(quoteNumbers('[1,22,333]', [3, 5, 6, 9])).toBe('[1,"22","333"]');
    expect(quoteNumbers('[1]', [])).toBe('[1]');
  });

  it('parsePayload keeps such numbers as their digits, and nothing else changes', () => {
    const body =
      '[{"event":"e","distinct_id":"u","properties":{"order_id":1234567890123456789,"t":1.7e-400,' +
      '"big":1e400,"neg":-1e400,"safe":9007199254740991,"float":1e300,"s":"1234567890123456789 in a string 1e400",' +
      '"list":[12345678901234567890, 2],"esc":"a\\"12345678901234567890"}}]';
    expect(parse(body)).toEqual([
      {
        event: 'e',
        distinct_id: 'u',
        properties: {
          order_id: '1234567890123456789',
          t: '1.7e-400',
          big: '1e400',
          neg: '-1e400',
          safe: 9007199254740991,
          float: 1e300,
          s: '1234567890123456789 in a string 1e400',
          list: ['12345678901234567890', 2],
          esc: 'a"12345678901234567890',
        },
      },
    ]);
    // A numeric distinct id past 2^53 is its digits too, as sent (no longer rounded into another person's).
    expect(parse('{"batch":[{"event":"e","distinct_id":1234567890123456789}]}')).toEqual({
      batch: [{ event: 'e', distinct_id: '1234567890123456789' }],
    });
  });

  it('names the position of a mistake as in the body sent, quoted numbers before it or not', () => {
    const bad = '[1234567890123456789, 1e400, 1 2]';
    expect(() => parse(bad)).toThrow(`(at character ${bad.indexOf(' 2]') + 1})`);
  });

  it('a body that is not JSON stays refused', () => {
    for (const bad of [
      '[1e5e5]',
      '[12345678901234567890.]',
      '{"a":01234567890123456789}',
      '[1e400',
      // A number in a key's place is no JSON, and must not be quoted into some.
      '{"properties":{12345678901234567890:"x"}}',
      '{1e400 : 1}',
    ])
      expect(() => parse(bad), bad).toThrow(/not valid JSON/);
  });

  it('a body with more long numbers than MAX_LONG_NUMBERS is refused with what to do, not looked at for seconds', () => {
    const many = (n: number) => `[${Array.from({ length: n }, () => '1234567890123456789').join(',')}]`;
    expect((parse(many(MAX_LONG_NUMBERS)) as unknown[]).length).toBe(MAX_LONG_NUMBERS);
    expect(() => parse(many(MAX_LONG_NUMBERS + 1))).toThrow(/send such values as strings/);
    // Short numbers cost no look and count for nothing.
    expect(
      (parse(`[${Array.from({ length: MAX_LONG_NUMBERS + 1 }, () => '12345').join(',')}]`) as unknown[])
        .length,
    ).toBe(MAX_LONG_NUMBERS + 1);
  });
});
