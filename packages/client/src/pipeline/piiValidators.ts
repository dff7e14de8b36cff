/**
 * What a regex alone cannot tell of a PII candidate: Luhn and issuer prefix of cards, IBAN check
 * digits, IPv6 group arithmetic, personal vs reserved IPv4, base64 `user:password`, phone numbers
 * vs amounts.
 */
/**
 * A `+` number that is a phone number: 9 to 15 digits (E.164), and not a signed amount written
 * with thousands separators (see `isGroupedAmount`). A run without separators is taken from 10
 * digits on (the regex).
 */
export function isInternationalPhone(text: string): boolean {
  let digits = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
  }
  if (digits < 9 || digits > 15) return false;
  return !isGroupedAmount(text, digits);
}

// Every group after the first of three digits, one kind of separator, maybe cents.
const GROUPED_AMOUNT = /^\+\d{1,3}([ .])\d{3}(?:\1\d{3})+(\.\d{1,2})?$/;

/**
 * `+125 000 000`, `+1.000.000.000`, `+1 234 567.89`: an amount, not a phone number. The shape
 * alone cannot tell `+61 412 345 678` (Australia, Spain, … write mobiles so) from 61 billion, so
 * the amount also needs cents, at most 10 digits, or to end in `000` (a round sum). A phone
 * number of that shape with at most 10 digits is rare: +1 and +7 numbers have 10 national
 * digits, so only a 3-digit country code with a 6-digit number (`+376 123 456`) is kept.
 */
function isGroupedAmount(text: string, digits: number): boolean {
  const m = GROUPED_AMOUNT.exec(text);
  if (m === null) return false;
  return m[2] !== undefined || digits <= 10 || text.endsWith('000');
}

/** Basic auth's token: base64 of `user:password` in printable characters. */
export function isBasicCredential(token: string): boolean {
  if (token.length % 4 !== 0) return false;
  let decoded: string;
  try {
    decoded = atob(token);
  } catch {
    return false;
  }
  return decoded.indexOf(':') > 0 && /^[\x20-\x7e\u00a0-\u00ff]+$/.test(decoded);
}

/** Luhn checksum over the digits of `text`; spaces and dashes between them are skipped. */
export function luhnValid(text: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = text.length - 1; i >= 0; i--) {
    let d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) continue;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/**
 * A payment card number: 13–19 digits (with spaces or dashes between them), an issuer prefix
 * (Visa, Mastercard, Amex, Discover, Diners, JCB, UnionPay, Maestro, Mir) and a valid Luhn
 * check. The prefix matters: Luhn alone passes one random digit run in ten, and millisecond
 * timestamps (13 digits from `17…`) or snowflake ids would lose one value in ten. Read in
 * place, without building the digit string: it runs on every card-shaped match.
 */
export function isCardNumber(text: string): boolean {
  let n = 0;
  let four = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (n < 4) four = four * 10 + (c - 48);
      n++;
    } else if (c !== 32 && c !== 45) return false;
  }
  if (n < 13 || n > 19) return false;
  if (!hasIssuerPrefix(four, n)) return false;
  return luhnValid(text);
}

/**
 * An IBAN's check digits (ISO 7064 mod 97-10): the first four characters moved to the end,
 * letters read as 10 to 35, the number mod 97 is 1. Spaces are skipped; read in place.
 */
export function isIbanChecksum(text: string): boolean {
  let remainder = 0;
  let seen = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 32) continue;
      seen++;
      // The country and check digits (the first four) are read last, in the second pass.
      const head = seen <= 4;
      if (pass === 0 ? head : !head) continue;
      if (c >= 48 && c <= 57) remainder = (remainder * 10 + (c - 48)) % 97;
      else if (c >= 65 && c <= 90) remainder = (remainder * 100 + (c - 55)) % 97;
      else return false;
    }
    seen = 0;
  }
  return remainder === 1;
}

const MAESTRO_PREFIXES = new Set([5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763]);

/** `four`: the number's first four digits; `n`: how many digits it has. */
function hasIssuerPrefix(four: number, n: number): boolean {
  const one = Math.floor(four / 1000);
  const two = Math.floor(four / 100);
  const third = Math.floor(four / 10) % 10;
  // Visa: 16 or 19 (13-digit Visa numbers are long retired; EAN-13 product codes from 40-49 are not).
  if (one === 4) return n === 16 || n === 19;
  if (two >= 51 && two <= 55) return n === 16; // Mastercard
  if (four >= 2221 && four <= 2720) return n === 16; // Mastercard 2-series
  if (two === 34 || two === 37) return n === 15; // Amex
  if (two === 36 || (two === 30 && third <= 5) || two === 38 || two === 39) return n >= 14; // Diners
  if (four >= 3528 && four <= 3589) return n >= 16; // JCB
  if (four === 6011 || two === 65 || (four >= 6440 && four <= 6499)) return n >= 16; // Discover
  if (two === 62) return n >= 16; // UnionPay
  // Maestro's own ranges: "50, 56-69" as a whole took EAN-13 codes (590…) and one in ten
  // random 13-19 digit ids of that range.
  if (MAESTRO_PREFIXES.has(four)) return n >= 12;
  if (four >= 2200 && four <= 2204) return n >= 16; // Mir
  return false;
}

/**
 * A host's IPv4 address. Not: 0.x.x.x (unspecified, and where 4-part versions like 0.9.1.2
 * start), 127/8 (loopback), a last octet of 0 (a network, like the versions 1.0.0.0 and 4.2.0.0)
 * or 255.255.255.255.
 */
export function isPersonalIpv4(text: string): boolean {
  const first = text.indexOf('.');
  const a = Number(text.slice(0, first));
  if (a === 0 || a === 127) return false;
  const lastDot = text.lastIndexOf('.');
  const last = Number(text.slice(lastDot + 1));
  if (last === 0) return false;
  return text !== '255.255.255.255';
}

/** RFC 4291 text form: 8 groups, or fewer with exactly one `::`; an IPv4 tail counts as two. */
export function isIpv6(text: string): boolean {
  const doubleAt = text.indexOf('::');
  if (doubleAt !== -1 && text.indexOf('::', doubleAt + 1) !== -1) return false;
  let groups = 0;
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    if (part.includes('.')) {
      if (i !== parts.length - 1 || !isIpv4Text(part)) return false;
      groups += 2;
    } else if (part.length > 4) return false;
    else groups++;
  }
  if (doubleAt === -1) {
    // No `::`: no empty group allowed at all (a leading or trailing single colon is malformed).
    if (parts.some((p) => p === '')) return false;
    return groups === 8;
  }
  // With `::` a lone colon at either end is still malformed (":1::2", "1::2:").
  if ((text.startsWith(':') && !text.startsWith('::')) || (text.endsWith(':') && !text.endsWith('::')))
    return false;
  // `::` stands for at least one group; two real groups at least, so `a::b`-like C++ scopes
  // (`std::vector`) are not taken unless they are hex and look like an address.
  return groups <= 7 && groups >= 2;
}

function isIpv4Text(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** `::1`, `::` and link-local scope-free loopback-like forms are not anyone's address. */
export function isLocalIpv6(text: string): boolean {
  const t = text.toLowerCase();
  return t === '::1' || t === '::' || t === '0:0:0:0:0:0:0:1';
}
