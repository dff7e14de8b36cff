/**
 * Errors of the delivery side. Callers branch on `kind` (or `instanceof`), never on message text.
 */
export type DeliveryErrorKind = 'delivery-option' | 'destination' | 'delivery-busy';

export abstract class DeliveryError extends Error {
  abstract readonly kind: DeliveryErrorKind;
}

/** Thrown by `resolveDeliveryOptions` (and so by `new Delivery`) for a bad option; names it. */
export class DeliveryOptionError extends DeliveryError {
  readonly kind = 'delivery-option' as const;
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`Invalid delivery option "${option}": ${reason}`);
    this.name = 'DeliveryOptionError';
  }
}

export interface DestinationErrorOptions {
  /** True when sending the same events again can never succeed: they go to the dead letters. */
  permanent?: boolean;
  /** How long to wait before the next attempt, when the destination knows. */
  retryAfterMs?: number;
  /** The HTTP status, when there was one. */
  status?: number;
  cause?: unknown;
}

/**
 * A destination refused a batch. A custom destination throws it to fail a batch:
 * `throw new DestinationError('quota exceeded', { retryAfterMs: 60_000 })` (retried later) or
 * `throw new DestinationError('schema rejected', { permanent: true })` (dead-lettered).
 * Any other error a custom destination throws is treated as retryable: a bug in the sender
 * must not throw events away.
 */
export class DestinationError extends DeliveryError {
  readonly kind = 'destination' as const;
  readonly permanent: boolean;
  readonly retryAfterMs?: number;
  readonly status?: number;
  constructor(message: string, options: DestinationErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DestinationError';
    this.permanent = options.permanent === true;
    const after = options.retryAfterMs;
    if (typeof after === 'number' && Number.isFinite(after) && after >= 0) this.retryAfterMs = after;
    if (options.status !== undefined) this.status = options.status;
  }
}

/** A second delivery loop was started on an outbox that already has one in this process. */
export class DeliveryBusyError extends DeliveryError {
  readonly kind = 'delivery-busy' as const;
  constructor() {
    super('This outbox already has a running delivery loop; shut it down before starting another');
    this.name = 'DeliveryBusyError';
  }
}
