import { ErrorTrackingOptionError } from '../features/errors/errors.js';
import { HealthOptionError } from '../features/health/errors.js';
import { PerformanceOptionError } from '../features/performance/errors.js';
import { UsageOptionError } from '../features/usage/errors.js';
import { PatternRedactionOptionError } from '../pipeline/redactPatterns.options.js';
import { TelemetryOptionError } from './errors.js';

/**
 * A feature's option error (errors, performance, usage, health, pattern redaction), thrown while
 * the client was built, as the `TelemetryOptionError` createTelemetry documents, naming the
 * option by its whole path (`errors.maxBreadcrumbs`, `redaction.patterns.homePath`); the
 * feature's own error is its `cause`. Each feature's error names its option from its own
 * options object, which the app never wrote as such.
 */
export function featureOptionError(error: unknown): TelemetryOptionError | undefined {
  const prefix =
    error instanceof ErrorTrackingOptionError
      ? 'errors'
      : error instanceof PerformanceOptionError
        ? 'performance'
        : error instanceof UsageOptionError
          ? 'usage'
          : error instanceof HealthOptionError
            ? error.option.startsWith('deliveryReport')
              ? ''
              : 'health'
            : error instanceof PatternRedactionOptionError
              ? 'redaction.patterns'
              : undefined;
  if (prefix === undefined) return undefined;
  const { option, reason } = error as { option: string; reason: string };
  const path = prefix === '' ? option : option === 'options' ? prefix : `${prefix}.${option}`;
  return new TelemetryOptionError(path, reason, { cause: error });
}
