import { Component, createElement } from 'react';
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
  /**
   * When any of these change (`Object.is`) while the fallback shows, the children are tried again;
   * a value that is not an array is one key.
   */
  resetKeys?: readonly unknown[];
}

interface State {
  failed: boolean;
  error: unknown;
  errorId: string | undefined;
}

const INITIAL: State = { failed: false, error: undefined, errorId: undefined };

const stackOf = (info: ErrorInfo | undefined): string | undefined =>
  typeof info?.componentStack === 'string' ? info.componentStack : undefined;

interface FallbackBoundaryProps {
  children?: ReactNode;
  onCatch(error: unknown, componentStack: string | undefined): void;
}

/**
 * Around the fallback. What a fallback throws would otherwise go past the boundary showing it
 * (React skips a boundary that is already failing) to the next one up, and React would drop that
 * boundary's pending componentDidCatch: the error it caught would never be captured.
 */
class FallbackBoundary extends Component<FallbackBoundaryProps, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    this.props.onCatch(error, stackOf(info));
  }

  override render(): ReactNode {
    return this.state.failed ? null : this.props.children;
  }
}

/** Calls the fallback function in a component of its own, so that what it throws reaches FallbackBoundary. */
function Fallback({ render, props }: { render: (props: FallbackProps) => ReactNode; props: FallbackProps }) {
  return render(props);
}

/**
 * An error boundary that captures what it catches with `captureError(error, { severity, tags,
 * context: { ...context, react: { componentStack } } })` and renders `fallback`. Nothing it
 * does with telemetry can throw into React: a failing `captureError` still shows the fallback.
 * A fallback that throws (itself or a component it renders) shows nothing instead, and what it
 * threw is captured too, after the error it was showing, tagged `react_fallback: true`.
 * Like every React error boundary it catches render and lifecycle errors, not those of event
 * handlers or async code (capture those with the client's `captureError` or its unhandled hooks).
 */
export class TelemetryErrorBoundary extends Component<TelemetryErrorBoundaryProps, State> {
  static override contextType = TelemetryContext;
  declare context: ContextType<typeof TelemetryContext>;
  override state: State = INITIAL;
  /** Whether componentDidCatch ran for the error the boundary is failing with. */
  private caught = false;
  /** What the fallback threw before that componentDidCatch ran. */
  private fallbackErrors: { error: unknown; componentStack: string | undefined }[] = [];

  static getDerivedStateFromError(error: unknown): Partial<State> {
    // `failed` and not `error !== undefined`: `throw undefined` is still an error.
    return { failed: true, error, errorId: undefined };
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    const componentStack = stackOf(info);
    const errorId = this.capture(error, this.props.tags, componentStack);
    try {
      this.props.onError?.(error, { componentStack, errorId });
    } catch {}
    this.caught = true;
    for (const failure of this.fallbackErrors.splice(0)) this.captureFallbackError(failure, errorId);
    if (errorId !== undefined) this.setState({ errorId });
  }

  /** Answers the id, or undefined: the client answers '' when its `errors` feature is off. */
  private capture(
    error: unknown,
    tags: TelemetryErrorBoundaryProps['tags'],
    componentStack: string | undefined,
    fallbackFor?: string,
  ): string | undefined {
    const telemetry = this.props.telemetry ?? this.context;
    try {
      if (telemetry !== undefined && telemetry !== null && typeof telemetry.captureError === 'function') {
        const id = telemetry.captureError(error, {
          severity: this.props.severity ?? 'error',
          ...(tags === undefined ? {} : { tags }),
          context: {
            ...this.props.context,
            react: fallbackFor === undefined ? { componentStack } : { componentStack, fallbackFor },
          },
        });
        if (typeof id === 'string' && id !== '') return id;
      }
    } catch {}
    return undefined;
  }

  private captureFallbackError(
    failure: { error: unknown; componentStack: string | undefined },
    fallbackFor: string | undefined,
  ): void {
    this.capture(
      failure.error,
      { ...this.props.tags, react_fallback: true },
      failure.componentStack,
      fallbackFor,
    );
  }

  private onFallbackError = (error: unknown, componentStack: string | undefined): void => {
    // In the commit that first shows the fallback, FallbackBoundary (a child) commits before this
    // boundary's componentDidCatch: wait for it, so the caught error goes first and its id is known.
    if (this.caught) this.captureFallbackError({ error, componentStack }, this.state.errorId);
    else this.fallbackErrors.push({ error, componentStack });
  };

  override componentDidUpdate(previous: TelemetryErrorBoundaryProps, previousState: State): void {
    // Only a fallback that was already showing is reset. In the commit that caught the error
    // (the keys changed and the children threw in one update) a reset would render the same
    // children again at once: they would throw again and be captured twice.
    if (!this.state.failed || !previousState.failed) return;
    const before = keyList(previous.resetKeys);
    const now = keyList(this.props.resetKeys);
    if (before.length !== now.length || before.some((key, i) => !Object.is(key, now[i]))) this.reset();
  }

  /** Renders the children again (what the fallback's `reset` does). */
  reset = (): void => {
    this.caught = false;
    this.fallbackErrors = [];
    this.setState(INITIAL);
  };

  override render(): ReactNode {
    if (!this.state.failed) return this.props.children;
    const { fallback } = this.props;
    if (fallback === undefined || fallback === null) return null;
    const shown =
      typeof fallback === 'function'
        ? createElement(Fallback, {
            render: fallback,
            props: { error: this.state.error, errorId: this.state.errorId, reset: this.reset },
          })
        : fallback;
    return createElement(FallbackBoundary, { onCatch: this.onFallbackError }, shown);
  }
}

/**
 * The keys as a list. Plain JavaScript can pass one key without its array (`resetKeys={userId}`);
 * read as an array, it threw in componentDidUpdate and React unmounted the whole root.
 */
function keyList(keys: readonly unknown[] | undefined): readonly unknown[] {
  if (keys === undefined || keys === null) return [];
  return Array.isArray(keys) ? keys : [keys];
}
