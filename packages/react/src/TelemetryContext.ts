import { createContext, createElement, useContext } from 'react';
import type { ReactElement, ReactNode } from 'react';
import { TelemetryReactError } from './errors.js';

/** How bad a captured error is (the client's severities). */
export type Severity = 'debug' | 'info' | 'warning' | 'error' | 'fatal';

/** What `captureError` accepts: the client's `CaptureContext`, structurally. */
export interface ReactCaptureContext {
  severity?: Severity;
  context?: Record<string, unknown>;
  tags?: Record<string, string | number | boolean>;
  user?: Record<string, unknown>;
  fingerprint?: string | readonly string[];
}

/**
 * What the React bindings need of telemetry: the client's `captureError` (any object with it
 * works: the client, an error tracker, a test double). React never becomes a dependency of
 * `@homing/client`, and this package never imports the client.
 */
export interface ReactTelemetry {
  captureError(error: unknown, context?: ReactCaptureContext): string | undefined;
}

/** The telemetry given to the nearest `TelemetryProvider`, or undefined outside one. */
export const TelemetryContext = createContext<ReactTelemetry | undefined>(undefined);
TelemetryContext.displayName = 'HomingTelemetry';

export interface TelemetryProviderProps<T extends ReactTelemetry = ReactTelemetry> {
  /** The client the app made (`createTelemetry(...)`); the provider does not own or shut it down. */
  telemetry: T;
  children?: ReactNode;
}

/**
 * Makes `telemetry` available to `useTelemetry()` and `TelemetryErrorBoundary` below it. The app
 * creates the client once, outside React, and shuts it down itself: a component's lifetime
 * (remounts, StrictMode double effects) is not the lifetime of a telemetry pipeline.
 */
export function TelemetryProvider<T extends ReactTelemetry>({
  telemetry,
  children,
}: TelemetryProviderProps<T>): ReactElement {
  if (typeof telemetry !== 'object' || telemetry === null || typeof telemetry.captureError !== 'function') {
    throw new TelemetryReactError(
      'invalid-telemetry',
      'TelemetryProvider needs a telemetry prop with a captureError() method (the Homing client)',
    );
  }
  return createElement(TelemetryContext.Provider, { value: telemetry }, children);
}

/**
 * The telemetry of the nearest `TelemetryProvider` (`useTelemetry<TelemetryClient>()` to get
 * the client's full type). Throws a `TelemetryReactError` (`no-provider`) outside one, so a
 * missing provider shows at once instead of silently recording nothing.
 */
export function useTelemetry<T extends ReactTelemetry = ReactTelemetry>(): T {
  const telemetry = useContext(TelemetryContext);
  if (telemetry === undefined) {
    throw new TelemetryReactError('no-provider', 'useTelemetry() must be used inside <TelemetryProvider>');
  }
  return telemetry as T;
}
