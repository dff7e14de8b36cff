/**
 * Thrown by the usage tracker at construction when an option is out of range; names the option.
 * Tracking calls themselves never throw: bad input is counted in `getStats().rejected`.
 */
export class UsageOptionError extends Error {
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`Invalid usage option "${option}": ${reason}`);
    this.name = 'UsageOptionError';
  }
}
