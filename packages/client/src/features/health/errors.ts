/**
 * Thrown by the health reporter for a bad option at construction, or a bad `registerService`
 * call (empty or taken name, bad check options); names the option. Checks themselves never
 * throw out of the reporter: a failing check is a health status.
 */
export class HealthOptionError extends Error {
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
  ) {
    super(`Invalid health option "${option}": ${reason}`);
    this.name = 'HealthOptionError';
  }
}
