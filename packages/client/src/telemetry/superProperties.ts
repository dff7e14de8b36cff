import { isPropertiesObject } from './isPropertiesObject.js';
import { safeClone, type SafeLimits } from '../pipeline/safeSerialize.js';

/**
 * `register()`: the kept super properties with `added` merged in, as a new object (the builder
 * may keep it as it is: it is replaced, never changed), and the keys ignored past
 * `limits.maxProperties`. Capped as an event's properties are: past it, the kept set (and each
 * call's copy of it) grew with every key ever registered, though events carried the first keys
 * only.
 */
export function mergeSuperProperties(
  current: Readonly<Record<string, unknown>>,
  added: Record<string, unknown>,
  limits: SafeLimits,
): { merged: Record<string, unknown>; ignored: string[]; refused: boolean } {
  const { value } = safeClone(added, limits);
  // The clone stops at maxProperties keys: the ones past it are ignored too, and must be named.
  const cut = keysPast(added, limits.maxProperties);
  // What cannot be read as an object (a Proxy that throws) or reads as a value (a Date): its
  // clone is a string, whose characters would have become "0", "1", ... on every later event.
  if (!isPropertiesObject(value)) return { merged: { ...current }, ignored: [], refused: true };
  const merged = { ...current };
  const max = limits.maxProperties;
  let count = Object.keys(merged).length;
  const ignored: string[] = [];
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!Object.hasOwn(merged, key) && count++ >= max) ignored.push(key);
    // Defined, not assigned: a key named `__proto__` stays a property.
    else
      Object.defineProperty(merged, key, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  ignored.push(...cut);
  return { merged, ignored, refused: false };
}

function keysPast(value: object, max: number): string[] {
  try {
    const keys = Object.keys(value);
    return keys.length > max ? keys.slice(max) : [];
  } catch {
    // Unreadable (a Proxy that throws): the clone says so, and nothing is merged.
    return [];
  }
}

/** The warning for keys `mergeSuperProperties` ignored: the first few, named. */
export function ignoredSuperPropertiesWarning(ignored: readonly string[], max: number): string {
  const named = ignored.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 40)));
  const more = ignored.length > 5 ? ` and ${ignored.length - 5} more` : '';
  return `register: at most ${max} super properties are kept; ignored ${named.join(', ')}${more}`;
}
