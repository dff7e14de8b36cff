import { isRedactedField } from './redactFields.js';
import type { SafeLimits } from './safeSerialize.js';

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
 */
export function isPlainJsonData(
  value: Record<string, unknown>,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  reserved: readonly string[],
): boolean {
  return checkPlainJsonData(value, limits, redacted, reserved) !== 'no';
}

/**
 * `isPlainJsonData`, and in the same walk whether `isClean` holds for every string in it:
 * 'clean' when both do, 'plain' when the data is plain but some string is not clean (or no
 * `isClean` was given), 'no' when it is not plain. Lets the pattern pass be skipped for the
 * common event that holds nothing to redact, instead of walking the properties a second time.
 */
export function checkPlainJsonData(
  value: Record<string, unknown>,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  reserved: readonly string[],
  isClean?: (s: string) => boolean,
): 'no' | 'plain' | 'clean' {
  stringCheck = isClean;
  allClean = isClean !== undefined;
  try {
    if (!plainObject(value, 0, limits, redacted, reserved)) return 'no';
    return allClean ? 'clean' : 'plain';
  } catch {
    return 'no';
  } finally {
    stringCheck = undefined;
  }
}

// The walk's string check and its verdict so far, for the call in progress (the walk is
// synchronous and calls no app code, so one call never overlaps another).
let stringCheck: ((s: string) => boolean) | undefined;
let allClean = false;

function plainObject(
  obj: object,
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
  reserved?: readonly string[],
): boolean {
  if (depth >= limits.maxDepth) return false;
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(obj);
  if (keys.length > limits.maxProperties) return false;
  for (const key of keys) {
    if (redacted !== null && isRedactedField(redacted, key)) return false;
    if (reserved !== undefined && reserved.includes(key)) return false;
    if (!plainValue((obj as Record<string, unknown>)[key], depth, limits, redacted)) return false;
  }
  return true;
}

function plainValue(
  v: unknown,
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
): boolean {
  switch (typeof v) {
    case 'string':
      if (v.length > limits.maxStringLength) return false;
      if (allClean && !stringCheck!(v)) allClean = false;
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'boolean':
      return true;
    case 'object':
      if (v === null) return true;
      if (Array.isArray(v)) return plainArray(v, depth + 1, limits, redacted);
      return plainObject(v, depth + 1, limits, redacted);
    default:
      return false;
  }
}

function plainArray(
  list: readonly unknown[],
  depth: number,
  limits: SafeLimits,
  redacted: ReadonlySet<string> | null,
): boolean {
  if (depth >= limits.maxDepth || list.length > limits.maxProperties) return false;
  if (Object.getPrototypeOf(list) !== Array.prototype) return false;
  for (let i = 0; i < list.length; i++) {
    if (!(i in list) || !plainValue(list[i], depth, limits, redacted)) return false;
  }
  return true;
}
