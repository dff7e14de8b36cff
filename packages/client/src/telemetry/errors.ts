/**
 * Errors of the telemetry client. Only construction and the async control calls (`flush`,
 * `shutdown` with a bad timeout) throw; `track`, `identify`, `register`, `setConsent` never do.
 * Callers branch on `kind` (or `instanceof`), never on message text.
 */
export type TelemetryErrorKind = 'telemetry-option';

export abstract class TelemetryError extends Error {
  abstract readonly kind: TelemetryErrorKind;
}

/** A bad option of `createTelemetry` (or of `flush`/`shutdown`); `option` names it. */
export class TelemetryOptionError extends TelemetryError {
  readonly kind = 'telemetry-option' as const;
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid telemetry option "${option}": ${reason}`);
    this.name = 'TelemetryOptionError';
  }
}
