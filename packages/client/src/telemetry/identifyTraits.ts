import { safeClone, type SafeLimits } from '../pipeline/safeSerialize.js';
import { isPropertiesObject } from './isPropertiesObject.js';

/**
 * `identify()`'s traits as `$set` takes them: a plain object of properties, cloned; absent
 * (undefined or null) is none. Anything else (a string, an array, a Date, a Proxy that cannot be
 * read) is refused with the reason: PostHog took an array or a Date in `$set` for the person's
 * properties, and a primitive became `{}` without a word.
 */
export function identifyTraits(
  traits: unknown,
  limits: SafeLimits,
): { traits: Record<string, unknown> | undefined; problem?: string } {
  if (traits === undefined || traits === null) return { traits: undefined };
  if (isPropertiesObject(traits)) {
    const { value } = safeClone(traits, limits);
    // A Date (or what cannot be read) clones to a string, not to properties.
    if (isPropertiesObject(value)) return { traits: value };
  }
  let what: string;
  try {
    what = Array.isArray(traits) ? 'an array' : traits instanceof Date ? 'a Date' : typeof traits;
  } catch {
    // A Proxy whose getPrototypeOf throws: instanceof asks it.
    what = 'object';
  }
  return {
    traits: undefined,
    problem: `its traits must be a plain object of properties, got ${what === 'object' ? 'an unreadable object' : what}; the id is used, the traits are ignored`,
  };
}
