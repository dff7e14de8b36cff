/**
 * Numbers JSON.parse cannot hold as sent, kept as their digits instead. JavaScript reads every
 * JSON number as a double: `1234567890123456789` (a 64-bit id, a nanosecond timestamp, as
 * Python, Go and Java SDKs send them) arrives as 1234567890123456800, `1e400` as Infinity
 * (stored as null) and `1e-400` as 0. Stored so, a value changed without a word, and two events
 * without a uuid that differed only there got one content uuid: the second was answered a
 * duplicate, and lost. Such a number is read as the string of its digits, exactly as sent.
 */

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/**
 * Whether JSON.parse keeps this number token (as found by `nestedDeeperThan`): an integer whose
 * double writes back as the same text, or a float that neither overflows nor underflows.
 */
export function parsesExactly(token: string): boolean {
  // Not a JSON number (`1e5e5`, `01`): left as it is, for JSON.parse to refuse, never quoted into a valid body.
  if (!JSON_NUMBER.test(token)) return true;
  const value = Number(token);
  if (!Number.isFinite(value)) return false;
  if (/[.eE]/.test(token)) {
    // A fraction or an exponent is a floating-point value: rounding its last digits is what
    // it means; only an underflow to zero of a number that is not zero changes it.
    return value !== 0 || !/[1-9]/.test(mantissa(token));
  }
  if (Number.isSafeInteger(value)) return true;
  // Past 2^53 an integer is kept when the double writes back as the same text (what a JavaScript
  // sender wrote: 2 ** 60 as 1152921504606847000). Being the same number is not enough: -2^63
  // sent in full, a Go or Java int64, would be exported as -9223372036854776000, past int64.
  return String(value) === token;
}

function mantissa(token: string): string {
  const e = token.search(/[eE]/);
  return e === -1 ? token : token.slice(0, e);
}

/**
 * The text with each of `spans` (start, end pairs, in order, of number tokens outside strings
 * that do not parse exactly) written as a JSON string of the same characters.
 */
export function quoteNumbers(text: string, spans: readonly number[]): string {
  let out = '';
  let from = 0;
  for (let k = 0; k < spans.length; k += 2) {
    const start = spans[k]!;
    const end = spans[k + 1]!;
    out += `${text.slice(from, start)}"${text.slice(start, end)}"`;
    from = end;
  }
  return out + text.slice(from);
}
