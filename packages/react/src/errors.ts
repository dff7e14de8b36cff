/** Why `@homing/react` refused: a hook outside its provider, or a provider without telemetry. */
export type TelemetryReactErrorKind = 'no-provider' | 'invalid-telemetry';

export class TelemetryReactError extends Error {
  override readonly name = 'TelemetryReactError';

  constructor(
    readonly kind: TelemetryReactErrorKind,
    message: string,
  ) {
    super(message);
  }
}
