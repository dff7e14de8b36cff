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
 * replaced (`v1.2.3.4` and `version 1.2.3.4` are not); a `+` number in groups of three after a 1-3 digit code with at
 * most 10 digits, cents or a last group `000` is an amount (`+125 000 000`) and is kept, so
 * `+376 123 456` (Andorra) is too. `git@github.com:org/repo.git` (a Git remote, whose user is
 * `git` for everyone) is kept; any other `user@host.tld` is an email, `ssh://alice@host.tld` too.
 */
import type { PatternNeeds } from './stringProfile.js';
import { lettersOf } from './stringProfile.js';
import {
  isBasicCredential,
  isCardNumber,
  isIbanChecksum,
  isInternationalPhone,
  isIpv6,
  isLocalIpv6,
  isPersonalIpv4,
} from './piiValidators.js';
import { URL_SECRET_PATTERNS } from './urlSecretPatterns.js';
import { HOME_PATH_PATTERN } from './homePathPattern.js';
import { IBAN, IBAN_HINT } from './ibanPattern.js';

export type PiiPatternName =
  | 'privateKey'
  | 'jwt'
  | 'bearer'
  | 'keyValueSecret'
  | 'apiKey'
  | 'urlSecret'
  | 'homePath'
  | 'email'
  | 'ipv6'
  | 'ipv4'
  | 'iban'
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
  'urlSecret',
  'homePath',
  'email',
  'ipv6',
  'ipv4',
  'iban',
  'card',
  'ssn',
  'phone',
];

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

// Any other scheme after an `Authorization:` header (`Token 9944b0…`, as Django REST framework
// and others write it, `Digest …`, a bare key): the scheme stays, the credential is replaced.
// Bearer and Basic have their own patterns above. The credential must look like one (a digit and
// 8 characters, or 20), so "authorization: declined" is not taken. A vendor's header
// (`X-Authorization`, `X-Amz-Authorization`) is one too, and so is a credential in quotes after
// the scheme (`Token "9944b0…"`).
const OTHER_AUTH_SCHEME =
  /(?<![A-Za-z0-9-])((?:[a-z][a-z0-9]{0,15}-){0,2}authorization["']?\s{0,3}[:=]\s{0,3}["']?)(?!(?:bearer|basic)\s)([a-z][\w.-]{0,31}\s{1,3}["']?)?([^\s"',;[\]][^\s"',;]{3,1023})/gi;

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

// `api_key=…`, `"password": "…"`, `token: …`, `pass=…` in logs and URLs (also with a prefix:
// `aws_secret_access_key=…`, `GITHUB_TOKEN=…`, `DB_PASS=…`), and session cookies written out
// (`sessionid=…`, `;jsessionid=…` in a URL): keeps the key and replaces the value, up to its
// closing quote when quoted (`PASSWORD="correct horse battery staple"`), else up to a space or
// separator. The value must not start with `[` so an already replaced value stays as it is;
// `true`, `false`, `null` and `undefined` hold no secret (`{"pass":true}` in a test report).
const KEY_VALUE_SECRET = new RegExp(
  String.raw`(?<![A-Za-z0-9_-])((?:[A-Za-z0-9]{1,32}[_-]){0,4}(?:api[_-]?key|apikey|access[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|session[_-]?token|client[_-]?secret|private[_-]?key|secret[_-]?key|secret|password|passwd|passphrase|pgpassword|pass|csrf[_-]?token|csrftoken|xsrf[_-]?token|token|sessionid|phpsessid|jsessionid|pwd|ssn|otp(?:[_-]?code)?|mfa[_-]?code|cookie)["']?\s{0,3}[=:]\s{0,3})(?!["']?(?:true|false|null|undefined|none)(?![^\s"'&,;<>]))(?:(["'])([^"'\n\[][^"'\n]{3,511})\2|["']?([^\s"'&,;\[\]{}<>][^\s"'&,;<>]{3,511}))`,
  'gi',
);

// A secret given to a command as a flag (`--password S3cret`, `--api-key=…`, Homing's own
// `--admin-key`), as a command line in an event or an error message shows it. The value is the
// next word, unless it is another flag.
const CLI_FLAG_SECRET =
  /(?<![\w\]-])(--(?:[a-z0-9]{1,32}-){0,3}(?:password|passwd|passphrase|pass|token|secret|api-?key|access-token|auth-token|refresh-token|client-secret|private-key|secret-key|admin-key|write-key)(?:=|\s{1,3}))(?:(["'])([^"'\n[][^"'\n]{3,511})\2|([^\s"'[-][^\s"']{3,511}))/gi;

// Vendor key shapes: Stripe, GitHub, GitLab, AWS access key ids, Slack, Google, PostHog,
// OpenAI/Anthropic-style `sk-…`, npm, SendGrid, and Homing's own write and admin keys (`hw_` and
// `ha_` with 24 and 32 random bytes in base64url: `packages/server/src/store/project-keys.ts`).
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
      String.raw`hw_[\w-]{32}`,
      String.raw`ha_[\w-]{43}`,
    ].join('|') +
    String.raw`)(?![\w[-])`,
  'g',
);

// Letters and digits of any script (`josé@…`, `müller@…`, internationalised domains), and the
// `%40` an `@` becomes in a URL's query (`?email=bob%40example.com`). Not a high-density image
// name (`logo@2x.png`, `sprite@1.5x.png`, `favicon@2x.ico`): its "domain" is a scale and an image extension. Not a Git
// remote's `git@host:path` or `git@host/path`.
const EMAIL_END = String.raw`(?![\p{L}\p{N}_[-]|\.[\p{L}\p{N}_])`;
const SCALED_IMAGE = String.raw`\d{1,3}(?:\.\d{1,2})?[xX]\.(?:png|jpe?g|webp|gif|svg|avif|ico|heic|heif|bmp|PNG|JPE?G|WEBP|GIF|SVG|AVIF|ICO|HEIC|HEIF|BMP)${EMAIL_END}`;
// Nor a package file's version (`pkg@1.2.3.tgz`): a "domain" of numbers before its last label.
const VERSIONED_FILE = String.raw`\d{1,6}(?:\.\d{1,6}){1,4}\.\p{L}{2,24}${EMAIL_END}`;
const EMAIL = new RegExp(
  String.raw`(?<![\p{L}\p{N}_.%+\]-])(?!git@[\p{L}\p{N}.-]{1,253}[:/])[\p{L}\p{N}_.%+-]{1,64}(?:@|%40)(?!${SCALED_IMAGE}|${VERSIONED_FILE})[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,62}\.){1,8}\p{L}{2,24}${EMAIL_END}`,
  'gu',
);

// A candidate: hex groups and colons (and an IPv4 tail), validated by `isIpv6`.
const IPV6 =
  /(?<![\w:.\]])((?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|\d{1,3}(?:\.\d{1,3}){3})?)(%\w{1,16})?(?![\w:.[])/g;

const OCTET = String.raw`(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)`;
// Not after the word version (`version 1.2.3.4`). After a product token's `/` it is still taken
// for an address (`Name/1.2.3.4`): a path like `/ip/10.1.2.3` holds one, and browsers' own
// 4-part versions have a part over 255 (`Chrome/120.0.6099.109`).
const IPV4 = new RegExp(String.raw`(?<![\w.\]]|[Vv]ersion )${OCTET}(?:\.${OCTET}){3}(?![\w[]|\.\d)`, 'g');

// The shapes cards are written in: 4-4-4-4(+3) and Amex/Diners 4-6-5 / 4-6-4, a space, a dash or
// nothing between groups (not always the same one: `4111 1111-1111 1111` as typed into a form);
// `[HASH:` before digits is a hash this redactor wrote. The issuer prefix and Luhn check are what
// tell a card from an order number.
const CARD =
  /(?<![\w.\]-]|\[HASH:)(?:\d{4}[ -]?\d{4}[ -]?\d{4}[ -]?\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{4,5})(?![\w[]|[.-]\d)/g;

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
  /sk_|pk_|rk_|whsec_|gh[pousr]_|github_pat_|glpat-|AKIA|ASIA|xox[abprse]-|AIza|ph[cx]_|sk-|npm_|SG\.|h[wa]_/;
const KEY_VALUE_HINT = /key|token|secret|pass|sessid|sessionid|pwd|ssn|otp|mfa|cookie/i;

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
    name: 'bearer',
    regex: OTHER_AUTH_SCHEME,
    needs: { length: 20, assign: true, letters: lettersOf('authorization') },
    hint: (s) => /authorization/i.test(s),
    pick: (_m, g) => {
      const credential = g[3]!;
      if (credential.length < 20 && (credential.length < 8 || !/\d/.test(credential))) return null;
      return { prefix: g[1]! + (g[2] ?? ''), secret: credential, suffix: '' };
    },
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
    name: 'keyValueSecret',
    regex: CLI_FLAG_SECRET,
    needs: { length: 10, dashes: 2 },
    hint: (s) => s.includes('--'),
    pick: (_m, g) =>
      g[3] !== undefined
        ? { prefix: g[1]! + g[2]!, secret: g[3], suffix: g[2]! }
        : { prefix: g[1]!, secret: g[4]!, suffix: '' },
  },
  {
    name: 'apiKey',
    regex: API_KEY,
    needs: { length: 15, keyMark: true },
    hint: (s) => API_KEY_HINT.test(s),
  },
  ...URL_SECRET_PATTERNS,
  HOME_PATH_PATTERN,
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
    name: 'iban',
    regex: IBAN,
    needs: { length: 15, digits: 2, capitals: 2 },
    hint: (s) => IBAN_HINT.test(s),
    pick: (m) => (isIbanChecksum(m) ? { prefix: '', secret: m, suffix: '' } : null),
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
