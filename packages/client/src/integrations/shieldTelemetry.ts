import { IntegrationOptionError } from './errors.js';
import type { TelemetryLike } from './telemetryLike.js';

/**
 * The named methods of `telemetry`, each wrapped so that nothing it does (throw, return junk)
 * reaches the request it is called from: an integration must never break the app it watches.
 * Checks once, at set-up, that every method is there, so a wrong object fails loudly at start
 * instead of silently recording nothing.
 */
export function shieldTelemetry<K extends keyof TelemetryLike>(
  telemetry: unknown,
  methods: readonly K[],
  option = 'telemetry',
): Pick<TelemetryLike, K> {
  if (typeof telemetry !== 'object' && typeof telemetry !== 'function') {
    throw new IntegrationOptionError(option, `must be an object with ${methods.join(', ')}()`);
  }
  if (telemetry === null) throw new IntegrationOptionError(option, 'must not be null');
  const shielded: Partial<TelemetryLike> = {};
  for (const method of methods) {
    const fn = (telemetry as Record<string, unknown>)[method];
    if (typeof fn !== 'function') {
      throw new IntegrationOptionError(option, `has no ${method}() method (needs ${methods.join(', ')})`);
    }
    // Called as a method (not bound once) so a client whose methods are replaced later still works.
    (shielded as Record<string, unknown>)[method] = (...args: unknown[]): unknown => {
      try {
        const result: unknown = (telemetry as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
        return method === 'captureError' && typeof result !== 'string' ? undefined : result;
      } catch {
        return undefined;
      }
    };
  }
  return shielded as Pick<TelemetryLike, K>;
}
