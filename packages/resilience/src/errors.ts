/**
 * Every error this package throws is one of these classes. Callers branch on `kind`
 * (or `instanceof`), never on message text.
 */
export type ResilienceErrorKind =
  | 'config'
  | 'circuit-open'
  | 'circuit-isolated'
  | 'timeout'
  | 'bulkhead-rejected'
  | 'cancelled'
  | 'retries-exhausted'
  | 'fault-injected'
  | 'fault-injection-refused'
  | 'http';

export abstract class ResilienceError extends Error {
  abstract readonly kind: ResilienceErrorKind;
}

/**
 * Thrown at construction when an option is out of range; names the option. `execute(fn, signal)`
 * rejects with one (option `signal`) when `signal` is neither undefined nor an AbortSignal.
 */
export class ConfigError extends ResilienceError {
  readonly kind = 'config' as const;
  constructor(
    readonly option: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`Invalid option "${option}": ${reason}`, options);
    this.name = 'ConfigError';
  }
}

/**
 * A retry predicate (`retryOn` or `retryOnResult`, named by `option`) threw, so the retry policy
 * could not decide and stopped at once. `predicateError` is what it threw. `cause` is the call's
 * own error when the call failed, else the predicate's error: a call that succeeded is never run
 * again. Its kind is `config`, so an outer retry does not retry it either.
 */
export class RetryPredicateError extends ConfigError {
  constructor(
    option: 'retryOn' | 'retryOnResult',
    readonly predicateError: unknown,
    options: { cause?: unknown },
  ) {
    super(
      option,
      `threw (${describe(predicateError)}) deciding on ${
        option === 'retryOn' ? "the call's error (the cause)" : 'the result of a call that succeeded'
      }; the call was not run again`,
      options,
    );
    this.name = 'RetryPredicateError';
  }
}

/**
 * A fallback's `handles` predicate threw, so the policy could not decide whether the call's
 * error falls back. `predicateError` is what it threw; `cause` is the call's own error, kept so
 * the failure it was deciding on is not lost. Its kind is `config`: the predicate is the bug.
 */
export class FallbackPredicateError extends ConfigError {
  constructor(
    readonly predicateError: unknown,
    options: { cause: unknown },
  ) {
    super(
      'handles',
      `threw (${describe(predicateError)}) deciding on the call's error (the cause); no fallback was used`,
      options,
    );
    this.name = 'FallbackPredicateError';
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return String(error);
  } catch {
    return 'a value that could not be described';
  }
}

/** The breaker is open (or half-open with all probe slots taken); retry after `retryAfterMs`. */
export class BrokenCircuitError extends ResilienceError {
  readonly kind = 'circuit-open' as const;
  constructor(readonly retryAfterMs: number) {
    super(`Circuit is open; retry after ${Math.ceil(retryAfterMs)} ms`);
    this.name = 'BrokenCircuitError';
  }
}

/** The breaker was isolated by hand and stays open until `reset()` or the isolation is disposed. */
export class IsolatedCircuitError extends ResilienceError {
  readonly kind = 'circuit-isolated' as const;
  constructor() {
    super('Circuit is isolated');
    this.name = 'IsolatedCircuitError';
  }
}

export class TaskTimeoutError extends ResilienceError {
  readonly kind = 'timeout' as const;
  /** `options.cause`: the function's own error when it failed after its deadline. */
  constructor(
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(`Operation timed out after ${timeoutMs} ms`, options);
    this.name = 'TaskTimeoutError';
  }
}

export class BulkheadRejectedError extends ResilienceError {
  readonly kind = 'bulkhead-rejected' as const;
  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {
    super(`Bulkhead full: ${maxConcurrent} running and ${maxQueue} queued`);
    this.name = 'BulkheadRejectedError';
  }
}

/** The caller's AbortSignal fired. `reason` is the signal's reason. */
export class TaskCancelledError extends ResilienceError {
  readonly kind = 'cancelled' as const;
  constructor(readonly reason?: unknown) {
    super('Operation was cancelled');
    this.name = 'TaskCancelledError';
  }
}

/** What `classifyHttpFailure` says about a response or an error. */
export type HttpFailureKind = 'success' | 'retryable' | 'rate-limited' | 'conflict' | 'permanent';

export interface HttpClassification {
  readonly kind: HttpFailureKind;
  /** The delay the server asked for (`Retry-After`), in ms, when it gave a valid one. */
  readonly retryAfterMs?: number;
  /** Why, for logs: e.g. `"503 Service Unavailable"` or `"network error ECONNRESET"`. */
  readonly reason: string;
}

/**
 * A failed HTTP response. Carries `retryAfterMs` when the server sent a valid `Retry-After`,
 * so a retry policy that honours an error's own delay waits as long as the server asked.
 * Make one with `httpErrorFromResponse(response)`.
 */
export class HttpError extends ResilienceError {
  readonly kind = 'http' as const;
  readonly retryAfterMs?: number;
  constructor(
    readonly status: number,
    readonly classification: HttpClassification,
  ) {
    super(`HTTP ${status}: ${classification.kind} (${classification.reason})`);
    this.name = 'HttpError';
    if (classification.retryAfterMs !== undefined) this.retryAfterMs = classification.retryAfterMs;
  }
}

/** The default error a fault-injection policy throws for an injected failure. */
export class FaultInjectedError extends ResilienceError {
  readonly kind = 'fault-injected' as const;
  constructor() {
    super('Fault injected');
    this.name = 'FaultInjectedError';
  }
}

/** Fault injection was asked for where `NODE_ENV` is `production`, without `force: true`. */
export class FaultInjectionRefusedError extends ResilienceError {
  readonly kind = 'fault-injection-refused' as const;
  constructor() {
    super('Fault injection refused: NODE_ENV is "production" (pass force: true to override)');
    this.name = 'FaultInjectionRefusedError';
  }
}
