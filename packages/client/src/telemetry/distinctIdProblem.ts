import { describeValue } from '../describeValue.js';
import { hasNulOrLoneSurrogate } from '../pipeline/textCut.js';

/**
 * What a failed lookup turns into when it is passed on as an id (`String(user.id)` of a missing
 * user, a template of an object): accepted, every user whose lookup failed became one person.
 * Compared in lower case, after trimming and dropping invisible characters.
 */
const PLACEHOLDER_IDS: ReadonlySet<string> = new Set([
  'undefined',
  'null',
  '[object object]',
  'nan',
  'true',
  'false',
  // Python's str(None).
  'none',
]);

/**
 * Characters that show as nothing (zero-width space and joiners, word joiner, BOM): with them,
 * 'undefined\u200b' passed for a real id. Dropped before the checks, as `trim()` leaves them.
 */
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff]/g;

/**
 * Why `value` is no distinct id (for `identify` and the `distinctId` option), or undefined
 * when it is one: a string of 1 to 200 characters once trimmed, no placeholder, not `.` or `..`.
 */
export function distinctIdProblem(value: unknown): string | undefined {
  const visible = typeof value === 'string' ? value.replace(INVISIBLE, '').trim() : '';
  if (typeof value !== 'string' || visible.length === 0 || value.length > 200) {
    return `must be a non-empty string of at most 200 characters, got ${describeValue(value)}`;
  }
  // The Homing server refuses such an id: every event of the person would be dead-lettered.
  if (hasNulOrLoneSurrogate(value)) {
    return `must be text without NUL or unpaired surrogates (half an emoji), got ${describeValue(value)}`;
  }
  // The Homing server refuses these too (URLs read them as path steps, so the person's routes
  // could not reach them). The id kept is the trimmed one.
  const kept = value.trim();
  if (kept === '.' || kept === '..') {
    return `must not be ${describeValue(kept)}: URLs read it as a path step, so the person's data could not be reached`;
  }
  if (PLACEHOLDER_IDS.has(visible.toLowerCase())) {
    return `must be a real id, got the placeholder ${describeValue(value)} (an id lookup that failed?)`;
  }
  return undefined;
}
