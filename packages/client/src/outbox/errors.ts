/**
 * Every error an outbox throws or rejects with is one of these classes. Callers branch on
 * `kind` (or `instanceof`), never on message text.
 */
export type OutboxErrorKind = 'invalid-option' | 'invalid-state' | 'closed' | 'io' | 'not-found';

export abstract class OutboxError extends Error {
  abstract readonly kind: OutboxErrorKind;
}

/** Thrown at construction when an option is missing or out of range; names the option. */
export class OutboxOptionError extends OutboxError {
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    /** What is wrong with it, without the option's name. */
    readonly reason: string,
  ) {
    super(`Invalid outbox option "${option}": ${reason}`);
    this.name = 'OutboxOptionError';
  }
}

/** `setState` was given a value that cannot be stored as JSON (a cycle, a BigInt, a function). */
export class OutboxStateError extends OutboxError {
  readonly kind = 'invalid-state' as const;
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`Cannot store outbox state "${key}": ${reason}`);
    this.name = 'OutboxStateError';
  }
}

/** The outbox was closed; only `append` (never throws), `claim` (null) and `close` still answer. */
export class OutboxClosedError extends OutboxError {
  readonly kind = 'closed' as const;
  constructor(operation: string) {
    super(`Outbox is closed (${operation})`);
    this.name = 'OutboxClosedError';
  }
}

/** Storage failed (disk full, permission denied, ...); `cause` holds the system error. */
export class OutboxIoError extends OutboxError {
  readonly kind = 'io' as const;
  constructor(
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(`Outbox storage failed during ${operation}: ${describe(options.cause)}`, options);
    this.name = 'OutboxIoError';
  }
}

/**
 * A tool asked to inspect an outbox in a directory that holds none; `detail` says why (missing,
 * not a directory, or none of the files an outbox directory holds, naming them).
 */
export class OutboxNotFoundError extends OutboxError {
  readonly kind = 'not-found' as const;
  constructor(
    readonly directory: string,
    readonly detail: string,
  ) {
    super(`No outbox in ${directory}: ${detail}`);
    this.name = 'OutboxNotFoundError';
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}
