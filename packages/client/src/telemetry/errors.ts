/**
 * Errors of the telemetry client. Only construction and the async control calls (`flush`,
 * `shutdown` with a bad timeout) throw; `track`, `identify`, `register`, `setConsent` never do.
 * Callers branch on `kind` (or `instanceof`), never on message text.
 */
export type TelemetryErrorKind = 'telemetry-option' | 'consent-unreadable';

export abstract class TelemetryError extends Error {
  abstract readonly kind: TelemetryErrorKind;
}

/** A bad option of `createTelemetry` (or of `flush`/`shutdown`); `option` names it. */
export class TelemetryOptionError extends TelemetryError {
  readonly kind = 'telemetry-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid telemetry option "${option}": ${reason}`, options);
    this.name = 'TelemetryOptionError';
  }
}

/**
 * The remembered consent is there but cannot be read: an I/O error, or what is stored is no
 * consent state (a damaged file). Never thrown into the app: the client logs it and holds its
 * events (pending) until the consent can be read, for it may be a denial.
 */
export class ConsentUnreadableError extends TelemetryError {
  readonly kind = 'consent-unreadable' as const;
  constructor(
    readonly where: string,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`the remembered consent in ${where} cannot be read: ${detail}`, options);
    this.name = 'ConsentUnreadableError';
  }
}
