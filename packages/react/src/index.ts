/** `@homing/react`: React bindings for Homing, kept out of `@homing/client` so React stays optional. */
export { TelemetryContext, TelemetryProvider, useTelemetry } from './TelemetryContext.js';
export type {
  ReactCaptureContext,
  ReactTelemetry,
  Severity,
  TelemetryProviderProps,
} from './TelemetryContext.js';
export { TelemetryErrorBoundary } from './TelemetryErrorBoundary.js';
export type { FallbackProps, TelemetryErrorBoundaryProps } from './TelemetryErrorBoundary.js';
export { TelemetryReactError } from './errors.js';
export type { TelemetryReactErrorKind } from './errors.js';
