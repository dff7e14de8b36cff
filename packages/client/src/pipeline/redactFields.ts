/**
 * Field-name redaction: values under sensitive keys are replaced wherever they are nested.
 * Keys are compared lower-cased with `-` and `_` removed, so `apiKey`, `api_key` and
 * `API-KEY` are one name. A key also matches when a run of its words is a name (`newPassword`,
 * `x-api-key`, `GITHUB_TOKEN`, `aws_secret_access_key`, `userEmail`), as Sentry's scrubber
 * matches names inside keys; by whole words, so `author` or `tokens_used` do not. Such a key
 * keeps a boolean or null (`has_password: true` holds no secret), and a key whose matched words
 * are followed by a word that describes the secret rather than holds it (`token_count`,
 * `password_length`, `email_verified`) is not matched. Pattern redaction inside string values
 * is a separate pass.
 *
 * A few names are also everyday words, or are other names once their words are joined
 * (`sessionid` is Django's session cookie, `session_id` an analytics session): those match only
 * as a key's last word as written (`DB_PASS`, `basicAuth`, `connect.sid`, `PHPSESSID`, not
 * `pass_rate`, `auth_method`, `session_id` or `$session_id`), and under them a number is kept as
 * well as a boolean or null (a pass count, a GPIO pin), while text, arrays and objects are
 * replaced.
 */
export const DEFAULT_REDACTED_FIELDS: readonly string[] = [
  'password',
  'passwords',
  'passwd',
  'pwd',
  'passphrase',
  'passcode',
  'pgpassword',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'secret',
  'secrets',
  'client_secret',
  'apiKey',
  'api_key',
  'authorization',
  'cookie',
  'cookies',
  'set-cookie',
  'email',
  'ssn',
  'social_security_number',
  'creditCard',
  'card_number',
  'cc_number',
  'cvv',
  'cvc',
  'security_code',
  'private_key',
  'signing_key',
  'encryption_key',
  'master_key',
  'auth_key',
  'mfa_code',
  'otp_code',
];

/**
 * Matched only as a key's last word, as written (see above), with the default list of
 * `DEFAULT_REDACTED_FIELDS`; a list of the app's own replaces both.
 */
export const DEFAULT_LAST_WORD_FIELDS: readonly string[] = [
  'pass',
  'auth',
  'credential',
  'credentials',
  'signature',
  'otp',
  'totp',
  'pin',
  'sid',
  'sessionid',
  'phpsessid',
  'jsessionid',
  'csrf',
  'xsrf',
];

export const REDACTED = '[REDACTED]';

export function normaliseFieldName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** Raw keys remembered per field set, at most: apps use few distinct keys, but some build them from data. */
const MAX_CACHED_KEYS = 4096;

/**
 * How a key matched: not at all, as a whole (any value is replaced), by a run of its words
 * (booleans and null are kept), or by its last word (numbers are kept too).
 */
export type FieldMatch = 'none' | 'whole' | 'words' | 'lastWord';

/**
 * Words that, right after the matched words, say the key describes the secret instead of holding
 * it: `token_count`, `password_length`, `secret_name`, `cookie_consent`, `email_verified`.
 */
const DESCRIBING_WORDS = new Set([
  'age',
  'consent',
  'count',
  'counts',
  'enabled',
  'expired',
  'expires',
  'expiry',
  'kind',
  'len',
  'length',
  'less',
  'limit',
  'max',
  'min',
  'name',
  'policy',
  'present',
  'required',
  'rotated',
  'set',
  'size',
  'strength',
  'ttl',
  'type',
  'used',
  'valid',
  'verified',
]);

/** Longest run of words tried against the names (`aws secret access key` needs 2 of 4). */
const MAX_RUN = 4;

/** A key's words: camelCase humps, acronyms, runs of letters or digits, lower-cased. */
export function keyWords(key: string): string[] {
  const words = key.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+/g);
  return words === null ? [] : words.map((w) => w.toLowerCase());
}

/**
 * The normalised sensitive names, plus a bounded memo from a raw key to its answer: the same
 * few keys come with every event, and normalising each (lower-case, regex replace) was a
 * large share of the field pass.
 */
export class FieldSet extends Set<string> {
  private readonly decided = new Map<string, FieldMatch>();
  /** Lower-cased words that match only as a key's last word. */
  private readonly lastWords: ReadonlySet<string>;

  constructor(names: Iterable<string> = [], lastWords: Iterable<string> = []) {
    super(names);
    this.lastWords = new Set([...lastWords].map((w) => w.toLowerCase()));
  }

  /** Whether, and how, `key` names a sensitive field. */
  match(key: string): FieldMatch {
    let m = this.decided.get(key);
    if (m === undefined) {
      m = this.has(normaliseFieldName(key)) ? 'whole' : this.matchByWords(keyWords(key));
      if (this.decided.size < MAX_CACHED_KEYS) this.decided.set(key, m);
    }
    return m;
  }

  /** true when `key` names a sensitive field, whatever value it holds. */
  matches(key: string): boolean {
    return this.match(key) !== 'none';
  }

  private matchByWords(words: readonly string[]): FieldMatch {
    for (let i = 0; i < words.length; i++) {
      let run = '';
      for (let j = i; j < words.length && j < i + MAX_RUN; j++) {
        run += words[j];
        if (this.has(run) && !DESCRIBING_WORDS.has(words[j + 1] ?? '')) return 'words';
      }
    }
    if (words.length === 1 && this.joinedMatch(words[0]!)) return 'words';
    return words.length > 0 && this.lastWords.has(words[words.length - 1]!) ? 'lastWord' : 'none';
  }

  /**
   * A key written as one word, its words joined without `_`, `-` or a case change (`csrftoken`,
   * Django's CSRF cookie, `newpassword`, `dbpassword`, `MYSQLPWD`, `creditcardnumber`): it ends
   * with a name (of 5 letters or more, or `pwd` or `ssn`, which end no English word), or starts
   * with one of 6 or more not followed by a describing word (`secretkey`, not `secretname`).
   * Shorter names are words of their own too often (`email` begins `emailverified`).
   */
  private joinedMatch(word: string): boolean {
    for (const name of this) {
      if (name.length >= word.length) continue;
      if ((name.length >= 5 || name === 'pwd' || name === 'ssn') && word.endsWith(name)) return true;
      if (name.length >= 6 && word.startsWith(name) && !DESCRIBING_WORDS.has(word.slice(name.length)))
        return true;
    }
    return false;
  }
}

/**
 * The default list also brings `DEFAULT_LAST_WORD_FIELDS`; a list of the app's own is all that
 * is matched (its names whole or by words).
 */
export function compileFieldSet(fields: readonly string[] = DEFAULT_REDACTED_FIELDS): FieldSet {
  // A list that holds every default name extends the defaults (`[...DEFAULT_REDACTED_FIELDS,
  // 'x']`): it keeps the last-word names too, which it could not name (DB_PASS, PHPSESSID).
  const extendsDefaults =
    fields === DEFAULT_REDACTED_FIELDS || DEFAULT_REDACTED_FIELDS.every((name) => fields.includes(name));
  return new FieldSet(fields.map(normaliseFieldName), extendsDefaults ? DEFAULT_LAST_WORD_FIELDS : []);
}

/** `fields.matches(key)` when it is a `FieldSet`; any other set holds normalised names. */
export function isRedactedField(fields: ReadonlySet<string>, key: string): boolean {
  return fields instanceof FieldSet ? fields.matches(key) : fields.has(normaliseFieldName(key));
}

/**
 * Whether the value under `key` is replaced: a key matched by its words keeps booleans and null,
 * one matched by its last word numbers too.
 */
function replacesValue(fields: ReadonlySet<string>, key: string, value: unknown): boolean {
  if (!(fields instanceof FieldSet)) return fields.has(normaliseFieldName(key));
  const m = fields.match(key);
  if (m === 'whole') return true;
  if (m === 'none' || value === null || typeof value === 'boolean') return false;
  return m === 'words' || typeof value !== 'number';
}

/**
 * Redacts in place on a value that `safeClone` produced (plain objects and arrays only, no
 * cycles), so no second copy is made. Returns how many fields were replaced.
 */
export function redactFieldsInPlace(
  value: unknown,
  fields: ReadonlySet<string>,
  replace: (v: unknown) => unknown,
): number {
  if (value === null || typeof value !== 'object') return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) n += redactFieldsInPlace(item, fields, replace);
    return n;
  }
  const obj = value as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (replacesValue(fields, key, obj[key])) {
      obj[key] = replace(obj[key]);
      n++;
    } else n += redactFieldsInPlace(obj[key], fields, replace);
  }
  return n;
}
