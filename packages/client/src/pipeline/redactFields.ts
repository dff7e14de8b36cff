/**
 * Field-name redaction: values under sensitive keys are replaced wherever they are nested.
 * Keys are compared lower-cased with `-` and `_` removed, so `apiKey`, `api_key` and
 * `API-KEY` are one name. Pattern redaction inside string values is a separate pass.
 */
export const DEFAULT_REDACTED_FIELDS: readonly string[] = [
  'password',
  'passwd',
  'pwd',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'secret',
  'client_secret',
  'apiKey',
  'api_key',
  'authorization',
  'cookie',
  'set-cookie',
  'email',
  'ssn',
  'creditCard',
  'card_number',
  'cvv',
  'cvc',
  'private_key',
];

export const REDACTED = '[REDACTED]';

export function normaliseFieldName(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/** Raw keys remembered per field set, at most: apps use few distinct keys, but some build them from data. */
const MAX_CACHED_KEYS = 4096;

/**
 * The normalised sensitive names, plus a bounded memo from a raw key to its answer: the same
 * few keys come with every event, and normalising each (lower-case, regex replace) was a
 * large share of the field pass.
 */
export class FieldSet extends Set<string> {
  private readonly decided = new Map<string, boolean>();

  /** true when `key`, normalised, is one of the names. */
  matches(key: string): boolean {
    let yes = this.decided.get(key);
    if (yes === undefined) {
      yes = this.has(normaliseFieldName(key));
      if (this.decided.size < MAX_CACHED_KEYS) this.decided.set(key, yes);
    }
    return yes;
  }
}

export function compileFieldSet(fields: readonly string[] = DEFAULT_REDACTED_FIELDS): FieldSet {
  return new FieldSet(fields.map(normaliseFieldName));
}

/** `fields.matches(key)` when it is a `FieldSet`; any other set holds normalised names. */
export function isRedactedField(fields: ReadonlySet<string>, key: string): boolean {
  return fields instanceof FieldSet ? fields.matches(key) : fields.has(normaliseFieldName(key));
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
    if (isRedactedField(fields, key)) {
      obj[key] = replace(obj[key]);
      n++;
    } else n += redactFieldsInPlace(obj[key], fields, replace);
  }
  return n;
}
