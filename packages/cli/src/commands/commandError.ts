/** A failure the user can act on: printed with its hint, exit code 1 (2 for bad usage). */
export class CommandError extends Error {
  readonly kind = 'command' as const;
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}
