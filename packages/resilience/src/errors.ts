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

/** Thrown at construction when an option is out of range; names the option. */
export class ConfigError extends ResilienceError {
  readonly kind = 'config' as const;
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid option "${option}": ${reason}`);
    this.name = 'ConfigError';
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
  constructor(readonly timeoutMs: number) {
    super(`Operation timed out after ${timeoutMs} ms`);
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
