/**
 * The built-in PII patterns of pattern redaction, each a global regex (linear: no nested
 * quantifiers, bounded repetitions, start anchored by a lookbehind so a match never begins in
 * the middle of a word) plus a validator for what a regex alone cannot tell (Luhn and issuer
 * prefix of cards, IPv6 group arithmetic), and a precheck on the string's character profile so
 * that a string that cannot hold the pattern is never scanned.
 *
 * False positives are the costlier mistake for telemetry (a mangled version or timestamp breaks
 * every chart built on it), so each pattern wants the shape people actually write: separators
 * for SSNs and US phone numbers, a `+` for international ones, an issuer prefix for cards.
 *
 * Known limits (chosen, and tested both ways): a bare 9-digit SSN or 10-digit phone number
 * without separators is kept (indistinguishable from an order number); a 4-part version whose
 * parts are all ≤ 255 and whose last part is not 0 (`1.2.3.4`) is an IPv4 address and is
 * replaced (`v1.2.3.4` is not); `git@github.com` is email-shaped and is replaced; a `+` number in
 * groups of three after a 1-3 digit code with at most 10 digits, cents or a last group `000` is
 * an amount (`+125 000 000`) and is kept, so `+376 123 456` (Andorra) is too.
 */
export type PiiPatternName =
  | 'privateKey'
  | 'jwt'
  | 'bearer'
  | 'keyValueSecret'
  | 'apiKey'
  | 'email'
  | 'ipv6'
  | 'ipv4'
  | 'card'
  | 'ssn'
  | 'phone';

/** In the order they run: credentials first (they may contain digits and `@`), then the rest. */
export const PII_PATTERN_NAMES: readonly PiiPatternName[] = [
  'privateKey',
  'jwt',
  'bearer',
  'keyValueSecret',
  'apiKey',
  'email',
  'ipv6',
  'ipv4',
  'card',
  'ssn',
  'phone',
];

/** What one pass over the string learned, so patterns that cannot match are skipped. */
export interface StringProfile {
  digits: number;
  dots: number;
  colons: number;
  at: boolean;
  /** `=` or `:` (every `key=value` secret has one). */
  assign: boolean;
  /** The ASCII letters in the string, either case: bit 0 for `a` … bit 25 for `z`. */
  letters: number;
  /** `_`, `-` or a capital ASCII letter: every vendor key shape has one. */
  keyMark: boolean;
}

export function profileString(s: string, into: StringProfile): StringProfile {
  let digits = 0;
  let dots = 0;
  let colons = 0;
  let at = false;
  let assign = false;
  let letters = 0;
  let keyMark = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const lower = c | 32;
    if (lower >= 97 && lower <= 122) {
      letters |= 1 << (lower - 97);
      if (c < 97) keyMark = true;
    } else if (c >= 48 && c <= 57) digits++;
    else if (c === 46) dots++;
    else if (c === 58) {
      colons++;
      assign = true;
    } else if (c === 64) at = true;
    else if (c === 37 && s.charCodeAt(i + 1) === 52 && s.charCodeAt(i + 2) === 48)
      at = true; // %40
    else if (c === 61) assign = true;
    else if (c === 95 || c === 45) keyMark = true;
  }
  into.digits = digits;
  into.dots = dots;
  into.colons = colons;
  into.at = at;
  into.assign = assign;
  into.letters = letters;
  into.keyMark = keyMark;
  return into;
}

/** The letters mask (`StringProfile.letters`) of every ASCII letter in `word`. */
export function lettersOf(word: string): number {
  let mask = 0;
  for (const ch of word.toLowerCase()) {
    const c = ch.charCodeAt(0);
    if (c >= 97 && c <= 122) mask |= 1 << (c - 97);
  }
  return mask;
}

/** What a string must have for the pattern to be able to match it (checked before the regex). */
export interface PatternNeeds {
  length: number;
  digits: number;
  dots: number;
  colons: number;
  at: boolean;
  assign: boolean;
  /** Every one of these letters (a `lettersOf` mask), in either case. */
  letters: number;
  keyMark: boolean;
}

/** `needs` with every field set (what was left out asks for nothing). */
export function resolveNeeds(needs: Partial<PatternNeeds>): PatternNeeds {
  return {
    length: needs.length ?? 1,
    digits: needs.digits ?? 0,
    dots: needs.dots ?? 0,
    colons: needs.colons ?? 0,
    at: needs.at ?? false,
    assign: needs.assign ?? false,
    letters: needs.letters ?? 0,
    keyMark: needs.keyMark ?? false,
  };
}

/**
 * Whether a pattern with these needs and hint may match `s`, whose profile is `pr`: false rules
 * the regex out without running it. Must never rule out a string the regex would match.
 */
export function admits(
  p: PatternNeeds & { readonly hint?: ((s: string) => boolean) | undefined },
  s: string,
  pr: StringProfile,
): boolean {
  return !(
    s.length < p.length ||
    pr.digits < p.digits ||
    pr.dots < p.dots ||
    pr.colons < p.colons ||
    (p.at && !pr.at) ||
    (p.assign && !pr.assign) ||
    (pr.letters & p.letters) !== p.letters ||
    (p.keyMark && !pr.keyMark) ||
    (p.hint !== undefined && !p.hint(s))
  );
}

export interface PiiPattern {
  readonly name: PiiPatternName;
  /** Global; run with `String.prototype.replace`. */
  readonly regex: RegExp;
  /** Checked on the profile first; must never rule out a string the regex would match. */
  readonly needs: Partial<PatternNeeds>;
  /** A further cheap test (a literal the match must contain), after `needs`. */
  readonly hint?: (s: string) => boolean;
  /**
   * The part of the match to replace, from the regex's match and its groups (`groups[1]` is the
   * first): the whole match by default; null keeps the match (it failed validation).
   */
  readonly pick?: (match: string, groups: ArrayLike<string | undefined>) => PickedSpan | null;
}

/** `prefix` stays, `secret` is replaced, `suffix` stays. */
export interface PickedSpan {
  prefix: string;
  secret: string;
  suffix: string;
}

// Characters that, right before a match, mean it starts inside another token (a word, a number,
// a decimal, a hex id, a path segment joined by `-`). Throughout, `]` before and `[` after a
// match count as word characters: they are where a replacement (`[REDACTED]`) now stands for
// what was a word there, so a second pass sees the same boundaries as the first (idempotence).
const NOT_AFTER_WORD = String.raw`(?<![\w.+\]-])`;

const JWT = new RegExp(String.raw`(?<![\w\]-])eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*`, 'g');

// Keeps `Bearer ` and replaces the token. A token is long, and has a digit or a symbol unless it
// is very long, so the prose "bearer responsibilities" is not a credential.
const BEARER = /(?<![A-Za-z])([Bb]earer|BEARER)(\s+)([\w~+/.-]{12,512}=*)/g;

// `Authorization: Basic dXNlcjpwYXNz`: kept only when the token decodes to `user:password`, so
// the prose "basic understanding" is not a credential.
const BASIC_AUTH = /(?<![A-Za-z])([Bb]asic|BASIC)(\s+)([A-Za-z0-9+/]{8,1024}={0,2})(?![\w+/=])/g;

// A PEM private key block, whole (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8 …). Its body never holds
// another BEGIN line, and stopping there keeps the scan linear: with `[\s\S]{0,16384}?` alone,
// every BEGIN of a string of repeated headers scanned up to 16 KB ahead for an END (229 ms for
// 60 values of 8 KB, over a second for one of 200 KB).
const PRIVATE_KEY =
  /-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----(?:(?!-----BEGIN )[\s\S]){0,16384}?-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----/g;

// A `Cookie:` or `Set-Cookie:` header line (`name=value` after it): every cookie in it may be
// someone's session, so the value is replaced to the end of the line.
const COOKIE_HEADER =
  /(?<![A-Za-z0-9-])((?:[Ss]et-)?[Cc]ookie|(?:SET-)?COOKIE)(\s{0,3}:\s{0,3})([^\s[=;]{1,256}=[^\n]{0,4095})/g;

// `api_key=…`, `"password": "…"`, `token: …` in logs and URLs (also with a prefix:
// `aws_secret_access_key=…`, `GITHUB_TOKEN=…`): keeps the key and replaces the
// value, up to its closing quote when quoted (`PASSWORD="correct horse battery staple"`), else
// up to a space or separator. The value must not start with `[` so an already replaced value
// stays as it is.
const KEY_VALUE_SECRET = new RegExp(
  String.raw`(?<![A-Za-z0-9_-])((?:[A-Za-z0-9]{1,32}[_-]){0,4}(?:api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|session[_-]?token|client[_-]?secret|private[_-]?key|secret[_-]?key|secret|password|passwd|csrf[_-]?token|csrftoken|xsrf[_-]?token|token)["']?\s{0,3}[=:]\s{0,3})(?:(["'])([^"'\n\[][^"'\n]{3,511})\2|["']?([^\s"'&,;\[\]{}<>][^\s"'&,;<>]{3,511}))`,
  'gi',
);

// Vendor key shapes: Stripe, GitHub, GitLab, AWS access key ids, Slack, Google, PostHog,
// OpenAI/Anthropic-style `sk-…`, npm, SendGrid.
const API_KEY = new RegExp(
  String.raw`(?<![\w\]-])(?:` +
    [
      String.raw`(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}`,
      String.raw`whsec_[A-Za-z0-9]{20,256}`,
      String.raw`gh[pousr]_[A-Za-z0-9]{30,251}`,
      String.raw`github_pat_\w{22,255}`,
      String.raw`glpat-[\w-]{20,255}`,
      String.raw`(?:AKIA|ASIA)[A-Z0-9]{16}`,
      String.raw`xox[abprse]-[A-Za-z0-9-]{10,250}`,
      String.raw`AIza[\w-]{35}`,
      String.raw`ph[cx]_[A-Za-z0-9]{20,256}`,
      String.raw`sk-(?:proj-|ant-)?[\w-]{20,256}`,
      String.raw`npm_[A-Za-z0-9]{36}`,
      String.raw`SG\.[\w-]{16,32}\.[\w-]{16,64}`,
    ].join('|') +
    String.raw`)(?![\w[-])`,
  'g',
);

// Letters and digits of any script (`josé@…`, `müller@…`, internationalised domains), and the
// `%40` an `@` becomes in a URL's query (`?email=bob%40example.com`). Not a high-density image
// name (`logo@2x.png`, `icon@3x.webp`): its "domain" is a scale and an image extension.
const EMAIL_END = String.raw`(?![\p{L}\p{N}_[-]|\.[\p{L}\p{N}_])`;
const SCALED_IMAGE = String.raw`\d{1,3}[xX]\.(?:png|jpe?g|webp|gif|svg|avif|PNG|JPE?G|WEBP|GIF|SVG|AVIF)${EMAIL_END}`;
const EMAIL = new RegExp(
  String.raw`(?<![\p{L}\p{N}_.%+\]-])[\p{L}\p{N}_.%+-]{1,64}(?:@|%40)(?!${SCALED_IMAGE})[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}\.){1,8}\p{L}{2,24}${EMAIL_END}`,
  'gu',
);

// A candidate: hex groups and colons (and an IPv4 tail), validated by `isIpv6`.
const IPV6 =
  /(?<![\w:.\]])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(%\w{1,16})?(?![\w:.[])/g;

const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
const IPV4 = new RegExp(String.raw`(?<![\w.\]])${OCTET}(?:\.${OCTET}){3}(?![\w[]|\.\d)`, 'g');

// The shapes cards are written in: 4-4-4-4(+3) and Amex/Diners 4-6-5 / 4-6-4, with one kind of
// separator (space, dash or none); `[HASH:` before digits is a hash this redactor wrote.
const CARD =
  /(?<![\w.\]-]|\[HASH:)(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -]?)\d{6}\2\d{4,5})(?![\w[]|[.-]\d)/g;

// With dashes or spaces (the same both times); not area 000, 666 or 9xx, group 00, serial 0000.
const SSN = new RegExp(
  String.raw`${NOT_AFTER_WORD}(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w[]|[.-]\d)`,
  'g',
);

// International with `+` (E.164): 10 to 15 digits in a run, or 9 to 15 in groups of any length
// after the country code, as each country writes them (`+44 20 7946 0958`, `+44 7911 123456`,
// `+91 98765 43210`, `+33 612345678`, `+1 (415) 555-1234`; see `isInternationalPhone`); or US
// with separators and a valid area code and exchange (2-9 first): (415) 555-1234, 415-555-1234,
// 415.555.1234, 1-800-555-1234. A signed amount (`+2500000`, `+1500000.00`, `+125 000 000`) and
// a bare run of 10 digits (more often an order number) are not taken.
const PHONE = new RegExp(
  String.raw`(?<![\w+\]])\+(?:\d{10,15}|\d{1,4}(?:[ ().-]{1,2}\d{1,14}){1,7})(?![\w[]|[.-]\d)` +
    '|' +
    String.raw`${NOT_AFTER_WORD}(?:1[ .-])?(?:\([2-9]\d{2}\)[ .-]?|[2-9]\d{2}[ .-])[2-9]\d{2}[ .-]\d{4}(?![\w[]|[.-]\d)`,
  'g',
);

const API_KEY_HINT =
  /sk_|pk_|rk_|whsec_|gh[pousr]_|github_pat_|glpat-|AKIA|ASIA|xox[abprse]-|AIza|ph[cx]_|sk-|npm_|SG\./;
const KEY_VALUE_HINT = /key|token|secret|passw/i;

export const BUILTIN_PII_PATTERNS: readonly PiiPattern[] = [
  {
    name: 'privateKey',
    regex: PRIVATE_KEY,
    needs: { length: 60, letters: lettersOf('private key') },
    // An END after the first header, found with indexOf: a string of headers alone is not scanned.
    hint: (s) => {
      const header = s.indexOf('PRIVATE KEY-----');
      return header !== -1 && s.indexOf('-----END ', header) !== -1;
    },
  },
  {
    name: 'jwt',
    regex: JWT,
    needs: { length: 20, dots: 2, letters: lettersOf('eyJ') },
    hint: (s) => s.includes('eyJ'),
  },
  {
    name: 'bearer',
    regex: BEARER,
    needs: { length: 19, letters: lettersOf('bearer') },
    hint: (s) => s.includes('earer') || s.includes('EARER'),
    pick: (_m, g) => {
      const token = g[3]!;
      if (token.length < 20 && !/[\d~+/.=-]/.test(token)) return null;
      return { prefix: g[1]! + g[2]!, secret: token, suffix: '' };
    },
  },
  {
    name: 'bearer',
    regex: BASIC_AUTH,
    needs: { length: 14, letters: lettersOf('basic') },
    hint: (s) => s.includes('asic') || s.includes('ASIC'),
    pick: (_m, g) => (isBasicCredential(g[3]!) ? { prefix: g[1]! + g[2]!, secret: g[3]!, suffix: '' } : null),
  },
  {
    name: 'keyValueSecret',
    regex: COOKIE_HEADER,
    needs: { length: 9, assign: true, letters: lettersOf('cookie') },
    hint: (s) => s.includes('ookie') || s.includes('OOKIE'),
    pick: (_m, g) => ({ prefix: g[1]! + g[2]!, secret: g[3]!, suffix: '' }),
  },
  {
    name: 'keyValueSecret',
    regex: KEY_VALUE_SECRET,
    needs: { length: 8, assign: true },
    hint: (s) => KEY_VALUE_HINT.test(s),
    pick: (m, g) =>
      g[3] !== undefined
        ? { prefix: g[1]! + g[2]!, secret: g[3], suffix: g[2]! }
        : { prefix: m.slice(0, m.length - g[4]!.length), secret: g[4]!, suffix: '' },
  },
  {
    name: 'apiKey',
    regex: API_KEY,
    needs: { length: 15, keyMark: true },
    hint: (s) => API_KEY_HINT.test(s),
  },
  { name: 'email', regex: EMAIL, needs: { length: 6, at: true, dots: 1 } },
  {
    name: 'ipv6',
    regex: IPV6,
    needs: { length: 4, colons: 2 },
    pick: (m, g) => (isIpv6(g[1]!) && !isLocalIpv6(g[1]!) ? { prefix: '', secret: m, suffix: '' } : null),
  },
  {
    name: 'ipv4',
    regex: IPV4,
    needs: { length: 7, dots: 3, digits: 4 },
    pick: (m) => (isPersonalIpv4(m) ? { prefix: '', secret: m, suffix: '' } : null),
  },
  {
    name: 'card',
    regex: CARD,
    needs: { length: 13, digits: 13 },
    pick: (m) => (isCardNumber(m) ? { prefix: '', secret: m, suffix: '' } : null),
  },
  { name: 'ssn', regex: SSN, needs: { length: 11, digits: 9 } },
  {
    name: 'phone',
    regex: PHONE,
    needs: { length: 10, digits: 9 },
    pick: (m) => (m[0] !== '+' || isInternationalPhone(m) ? { prefix: '', secret: m, suffix: '' } : null),
  },
];

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
function isLocalIpv6(text: string): boolean {
  const t = text.toLowerCase();
  return t === '::1' || t === '::' || t === '0:0:0:0:0:0:0:1';
}
