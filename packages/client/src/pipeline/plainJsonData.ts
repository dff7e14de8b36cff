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
  try {
    return plainObject(value, 0, limits, redacted, reserved);
  } catch {
    return false;
  }
}

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
      return v.length <= limits.maxStringLength;
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
