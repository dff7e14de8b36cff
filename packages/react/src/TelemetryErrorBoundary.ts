import { Component } from 'react';
import type { ContextType, ErrorInfo, ReactNode } from 'react';
import { TelemetryContext } from './TelemetryContext.js';
import type { ReactTelemetry, Severity } from './TelemetryContext.js';

/** What a fallback function gets. */
export interface FallbackProps {
  error: unknown;
  /** The id `captureError` answered (undefined on the first render and when nothing was captured). */
  errorId: string | undefined;
  /** Renders the children again. */
  reset(): void;
}

export interface TelemetryErrorBoundaryProps {
  children?: ReactNode;
  /** Shown instead of the children once they threw. Default: nothing. */
  fallback?: ReactNode | ((props: FallbackProps) => ReactNode);
  /** Where errors go. Default: the nearest `TelemetryProvider`'s telemetry. */
  telemetry?: ReactTelemetry;
  /** Default `'error'`. */
  severity?: Severity;
  /** Added to the captured error's tags (`{ area: 'checkout' }`). */
  tags?: Record<string, string | number | boolean>;
  /** Added to the captured error's context. */
  context?: Record<string, unknown>;
  /** Called after the capture, with the component stack and the error id. A throw is ignored. */
  onError?: (
    error: unknown,
    details: { componentStack: string | undefined; errorId: string | undefined },
  ) => void;
  /** When any of these change (`Object.is`) while the fallback shows, the children are tried again. */
  resetKeys?: readonly unknown[];
}

interface State {
  failed: boolean;
  error: unknown;
  errorId: string | undefined;
}

const INITIAL: State = { failed: false, error: undefined, errorId: undefined };

/**
 * An error boundary that captures what it catches with `captureError(error, { severity, tags,
 * context: { ...context, react: { componentStack } } })` and renders `fallback`. Nothing it
 * does with telemetry can throw into React: a failing `captureError` still shows the fallback.
 * Like every React error boundary it catches render and lifecycle errors, not those of event
 * handlers or async code (capture those with the client's `captureError` or its unhandled hooks).
 */
export class TelemetryErrorBoundary extends Component<TelemetryErrorBoundaryProps, State> {
  static override contextType = TelemetryContext;
  declare context: ContextType<typeof TelemetryContext>;
  override state: State = INITIAL;

  static getDerivedStateFromError(error: unknown): Partial<State> {
    // `failed` and not `error !== undefined`: `throw undefined` is still an error.
    return { failed: true, error, errorId: undefined };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    const componentStack = typeof info?.componentStack === 'string' ? info.componentStack : undefined;
    let errorId: string | undefined;
    const telemetry = this.props.telemetry ?? this.context;
    try {
      if (telemetry !== undefined && telemetry !== null && typeof telemetry.captureError === 'function') {
        const id = telemetry.captureError(error, {
          severity: this.props.severity ?? 'error',
          ...(this.props.tags === undefined ? {} : { tags: this.props.tags }),
          context: { ...this.props.context, react: { componentStack } },
        });
        if (typeof id === 'string') errorId = id;
      }
    } catch {}
    try {
      this.props.onError?.(error, { componentStack, errorId });
    } catch {}
    if (errorId !== undefined) this.setState({ errorId });
  }

  override componentDidUpdate(previous: TelemetryErrorBoundaryProps, previousState: State): void {
    // Only a fallback that was already showing is reset. In the commit that caught the error
    // (the keys changed and the children threw in one update) a reset would render the same
    // children again at once: they would throw again and be captured twice.
    if (!this.state.failed || !previousState.failed) return;
    const before = previous.resetKeys ?? [];
    const now = this.props.resetKeys ?? [];
    if (before.length !== now.length || before.some((key, i) => !Object.is(key, now[i]))) this.reset();
  }

  /** Renders the children again (what the fallback's `reset` does). */
  reset = (): void => {
    this.setState(INITIAL);
  };

  override render(): ReactNode {
    if (!this.state.failed) return this.props.children;
    const { fallback } = this.props;
    if (typeof fallback === 'function') {
      return fallback({ error: this.state.error, errorId: this.state.errorId, reset: this.reset });
    }
    return fallback ?? null;
  }
}
