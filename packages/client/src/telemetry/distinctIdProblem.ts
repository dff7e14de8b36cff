import { describeValue } from '../describeValue.js';

/**
 * What a failed lookup turns into when it is passed on as an id (`String(user.id)` of a missing
 * user, a template of an object): accepted, every user whose lookup failed became one person.
 * Compared in lower case, after trimming.
 */
const PLACEHOLDER_IDS: ReadonlySet<string> = new Set([
  'undefined',
  'null',
  '[object object]',
  'nan',
  'true',
  'false',
]);

/**
 * Why `value` is no distinct id (for `identify` and the `distinctId` option), or undefined
 * when it is one: a string of 1 to 200 characters once trimmed, and no placeholder.
 */
export function distinctIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 200) {
    return `must be a non-empty string of at most 200 characters, got ${describeValue(value)}`;
  }
  if (PLACEHOLDER_IDS.has(value.trim().toLowerCase())) {
    return `must be a real id, got the placeholder ${describeValue(value)} (an id lookup that failed?)`;
  }
  return undefined;
}
