/** Why an integration refused to be set up. */
export type IntegrationErrorKind = 'invalid-option';

/** Thrown at set-up (never while serving a request) when an option is wrong; names the option. */
export class IntegrationOptionError extends Error {
  readonly kind: IntegrationErrorKind = 'invalid-option';
  override readonly name = 'IntegrationOptionError';

  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid integration option "${option}": ${reason}`);
  }
}
