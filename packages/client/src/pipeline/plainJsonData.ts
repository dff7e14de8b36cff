import type { CheckedKeyLists } from './checkedKeyLists.js';
import { checkedKeyListsFor } from './checkedKeyLists.js';
import { isRedactedField } from './redactFields.js';
import { forgetRefusedKeys, rememberRefusedKeys } from './refusedKeys.js';
import { DEFAULT_MAX_JSON_BYTES, type SafeLimits } from './safeSerialize.js';

/**
 * true when `value` is already what `safeClone` would make of it: plain objects (prototype
 * Object.prototype or null) and arrays of strings within `maxStringLength`, finite numbers,
 * booleans and null, within `maxDepth` and `maxProperties`, with no key in `redacted` and none
 * of `reserved` at the top level. Such data can be redacted copy-on-write and stringified as
 * it is, without a clone first: one read-only walk, no allocation.
 *
 * Anything else answers false and the caller clones: a cycle runs past `maxDepth`, and a
 * throwing getter or Proxy trap is caught here. Undefined, functions, symbols, bigints,
 * `toJSON`, Dates, Maps and class instances all answer false (the clone decides what they
 * become); so does an array hole.
 *
 * So does data whose JSON would be over `maxBytes` (see `checkPlainJsonData`): the walk
 * stops there, so its cost never exceeds the size of an event that can be sent.
 */
export function isPlainJsonData(
  value: Record<string, unknown>,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  reserved: readonly string[],
  maxBytes = DEFAULT_MAX_JSON_BYTES,
): boolean {
  return checkPlainJsonData(value, limits, redacted, reserved, undefined, maxBytes) !== 'no';
}

/**
 * `isPlainJsonData`, and in the same walk whether `isClean` holds for every string in it, keys
 * included: 'clean' when both do, 'plain' when the data is plain but some string is not clean
 * (or no `isClean` was given), 'no' when it is not plain. Lets the pattern pass be skipped for
 * the common event that holds nothing to redact, instead of walking the properties a second
 * time.
 *
 * 'no' too, without walking further, once the JSON of what was walked would be over `maxBytes`
 * (the event size limit): each value walked counts at least one byte, each string and key its
 * length, so the walk visits O(`maxBytes`) values whatever the input. Without that bound, data
 * that reuses the same arrays and objects (a DAG: `Array(n).fill(Array(n).fill(list))`) is
 * walked once per path to each value, n^depth visits for a few n slots of memory. The count
 * is a lower bound of the JSON's UTF-8 length, so data answered 'no' for it would have been
 * too large to send anyway; the caller's clone stops at the same bound (`safeClone`).
 */
export function checkPlainJsonData(
  value: Record<string, unknown>,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  reserved: readonly string[],
  isClean?: (s: string) => boolean,
  maxBytes = DEFAULT_MAX_JSON_BYTES,
): 'no' | 'plain' | 'clean' {
  stringCheck = isClean;
  allClean = isClean !== undefined;
  keyLists = isClean === undefined ? undefined : checkedKeyListsFor(isClean, redacted, reserved);
  forgetRefusedKeys();
  try {
    if (plainObject(value, 0, limits, redacted, maxBytes, reserved) < 0) return 'no';
    return allClean ? 'clean' : 'plain';
  } catch {
    return 'no';
  } finally {
    stringCheck = undefined;
    keyLists = undefined;
  }
}

// The walk's string check and its verdict so far, for the call in progress (the walk is
// synchronous and calls no app code, so one call never overlaps another).
let stringCheck: ((s: string) => boolean) | undefined;
let allClean = false;
// The key lists found plain and clean before, with this string check (see `checkedKeyLists.ts`).
let keyLists: CheckedKeyLists | undefined;

// Each step of the walk takes `left`, the bytes of JSON the walk may still go through, and
// answers what is left after its value, or a negative number: not plain, or over the budget
// (NOT_PLAIN when an early check refused it; the count gone below 0 otherwise).
const NOT_PLAIN = -1;

function plainObject(
  obj: object,
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  left: number,
  reserved?: readonly string[],
): number {
  if (depth >= limits.maxDepth) return NOT_PLAIN;
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
  const keys = Object.keys(obj);
  if (keys.length > limits.maxProperties) {
    // The clone that follows reads them again otherwise (~0.4 s for a million keys).
    rememberRefusedKeys(obj, keys);
    return NOT_PLAIN;
  }
  // A list that passed before skips the checks of each key, for a comparison by identity.
  const memo = keyLists === undefined ? undefined : reserved === undefined ? keyLists.nested : keyLists.top;
  let known = memo?.candidate(keys);
  // for-of with a count: an indexed loop made the walk of a clean event 6 % slower.
  let i = -1;
  for (const key of keys) {
    i++;
    if (known !== undefined && known[i] === key) continue;
    known = undefined;
    // Before the values: an object with a field to replace is refused without walking them.
    if (redacted !== null && isRedactedField(redacted, key)) return NOT_PLAIN;
    if (reserved !== undefined && reserved.includes(key)) return NOT_PLAIN;
  }
  for (const key of keys) {
    // `"key":` and at least one byte of the value.
    left -= key.length + 4;
    // The pattern pass redacts keys too (an email used as one). Over the budget, as for
    // strings, the answer is 'no' whatever the check says.
    if (known === undefined && left >= 0 && allClean && !stringCheck!(key)) allClean = false;
    left = plainValue((obj as Record<string, unknown>)[key], depth, limits, redacted, left);
    if (left < 0) return left;
  }
  // Every key was checked (the walk would have stopped otherwise) and found clean.
  if (known === undefined && allClean) memo?.add(keys);
  return left;
}

function plainValue(
  v: unknown,
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  left: number,
): number {
  switch (typeof v) {
    case 'string':
      if (v.length > limits.maxStringLength) return NOT_PLAIN;
      // Its quotes: one counted with the key or item, one here. Over the budget, the string
      // check is skipped: the answer is 'no' whatever it says.
      left -= v.length + 1;
      if (left >= 0 && allClean && !stringCheck!(v)) allClean = false;
      return left;
    case 'number':
      return Number.isFinite(v) ? left : NOT_PLAIN;
    case 'boolean':
      return left;
    case 'object':
      if (v === null) return left;
      if (Array.isArray(v)) return plainArray(v, depth + 1, limits, redacted, left);
      return plainObject(v, depth + 1, limits, redacted, left);
    default:
      return NOT_PLAIN;
  }
}

function plainArray(
  list: readonly unknown[],
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  left: number,
): number {
  if (depth >= limits.maxDepth || list.length > limits.maxProperties) return NOT_PLAIN;
  if (Object.getPrototypeOf(list) !== Array.prototype) return NOT_PLAIN;
  // At least one byte per item.
  left -= list.length;
  for (let i = 0; i < list.length && left >= 0; i++) {
    if (!(i in list)) return NOT_PLAIN;
    left = plainValue(list[i], depth, limits, redacted, left);
  }
  return left;
}
