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

export function compileFieldSet(fields: readonly string[] = DEFAULT_REDACTED_FIELDS): ReadonlySet<string> {
  return new Set(fields.map(normaliseFieldName));
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
    if (fields.has(normaliseFieldName(key))) {
      obj[key] = replace(obj[key]);
      n++;
    } else n += redactFieldsInPlace(obj[key], fields, replace);
  }
  return n;
}
