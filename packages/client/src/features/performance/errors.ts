/**
 * Thrown by the performance tracker at construction when an option is out of range; names the
 * option. Measurements themselves never throw: bad ones are counted in `getStats().rejected`.
 */
export class PerformanceOptionError extends Error {
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`Invalid performance option "${option}": ${reason}`);
    this.name = 'PerformanceOptionError';
  }
}
