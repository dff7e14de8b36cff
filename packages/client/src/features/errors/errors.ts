/**
 * What the error tracker throws: only at construction, for options it cannot use. Callers
 * branch on `kind` (or `instanceof`), never on message text. Capturing never throws.
 */
export class ErrorTrackingOptionError extends Error {
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`Invalid error tracking option "${option}": ${reason}`);
    this.name = 'ErrorTrackingOptionError';
  }
}
