import { IntegrationOptionError } from './errors.js';
import type { BreadcrumbInput, CaptureContext, Tags, TelemetryLike } from './telemetryLike.js';

type Target = Record<string, (...args: any[]) => unknown>;

/**
 * Checks once, at set-up, that `telemetry` has every named method, so a wrong object fails
 * loudly at start instead of silently recording nothing. Integrations that call a method inside
 * a catch-all of their own (the Express timing recorder) need only this; the others shield.
 */
export function checkTelemetry(telemetry: unknown, methods: readonly string[], option = 'telemetry'): void {
  if (typeof telemetry !== 'object' && typeof telemetry !== 'function') {
    throw new IntegrationOptionError(option, `must be an object with ${methods.join(', ')}()`);
  }
  if (telemetry === null) throw new IntegrationOptionError(option, 'must not be null');
  for (const method of methods) {
    if (typeof (telemetry as Target)[method] !== 'function') {
      throw new IntegrationOptionError(option, `has no ${method}() method (needs ${methods.join(', ')})`);
    }
  }
}

/**
 * The named methods of `telemetry` (checked by `checkTelemetry`), each wrapped so that nothing it
 * does (throw, return junk) reaches the request it is called from: an integration must never
 * break the app it watches. The wrappers have fixed arities (no rest arrays): they sit on every
 * request's path.
 */
export function shieldTelemetry<K extends keyof TelemetryLike>(
  telemetry: unknown,
  methods: readonly K[],
  option = 'telemetry',
): Pick<TelemetryLike, K> {
  checkTelemetry(telemetry, methods, option);
  const t = telemetry as Target;
  // Called as methods (not bound once) so a client whose methods are replaced later still works.
  const shielded: TelemetryLike = {
    captureError(error: unknown, context?: CaptureContext): string | undefined {
      try {
        const id = t['captureError']!(error, context);
        return typeof id === 'string' ? id : undefined;
      } catch {
        return undefined;
      }
    },
    addBreadcrumb(breadcrumb: BreadcrumbInput): void {
      try {
        t['addBreadcrumb']!(breadcrumb);
      } catch {}
    },
    timing(name: string, valueMs: number, tags?: Tags): void {
      try {
        t['timing']!(name, valueMs, tags);
      } catch {}
    },
    track(event: string, properties?: Record<string, unknown>): void {
      try {
        t['track']!(event, properties);
      } catch {}
    },
  };
  const picked: Partial<TelemetryLike> = {};
  for (const method of methods) (picked as Record<string, unknown>)[method] = shielded[method];
  return picked as Pick<TelemetryLike, K>;
}
