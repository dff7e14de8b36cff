import type { UsageSettings } from './usageOptions.js';

export type UsageRejectReason =
  | 'feature'
  | 'action'
  | 'props'
  | 'conversation'
  | 'message'
  | 'provider'
  | 'latency'
  | 'tokens'
  | 'suggestion';

/** What each part of the usage tracker is given: settings, the clock, and where events and rejections go. */
export interface UsageContext {
  readonly settings: UsageSettings;
  now(): number;
  emit(event: string, properties: Record<string, unknown>): void;
  reject(reason: UsageRejectReason, detail: string): void;
}

/** A non-empty string no longer than `max`. */
export function isName(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

/** A plain object (or undefined) whose properties can travel as event properties. */
export function isProps(value: unknown): value is Record<string, unknown> | undefined {
  if (value === undefined) return true;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A shallow copy of props (a plain object or undefined), read once before any state changes, so
 * the caller works with values that cannot change or throw later. null when they are not a plain
 * object or cannot be read (a getter or Proxy trap threw): the call is then rejected as bad props.
 * Nested values are copied later by the pipeline, which never throws.
 */
export function copyProps(value: unknown): Record<string, unknown> | undefined | null {
  if (value === undefined) return undefined;
  try {
    if (!isProps(value)) return null;
    const copy: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      // defineProperty: a key named "__proto__" is a key like any other.
      Object.defineProperty(copy, key, {
        value: (value as Record<string, unknown>)[key],
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return copy;
  } catch {
    return null;
  }
}

/** A count such as tokens: a finite number >= 0 (or absent). */
export function isCount(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === 'number' && value >= 0 && value <= Number.MAX_SAFE_INTEGER);
}

/** Counts by key with a bounded number of keys; the rest go under '$other'. */
export function bump(counts: Record<string, number>, key: string, max: number, by = 1): void {
  if (Object.hasOwn(counts, key)) counts[key]! += by;
  else if (Object.keys(counts).length < max) {
    Object.defineProperty(counts, key, { value: by, enumerable: true, writable: true, configurable: true });
  } else counts.$other = (counts.$other ?? 0) + by;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
