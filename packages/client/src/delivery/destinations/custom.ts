import type { HomingEvent } from '../../event.js';
import type { OutboxRecord } from '../../outbox/outbox.js';
import type { CustomSend, ResolvedEndpoint } from '../deliveryOptions.js';
import { DestinationError } from '../errors.js';
import type { Destination, FailureKind, RejectedRecord, SendContext, SendOutcome } from './destination.js';
import { classifyHttpFailure, HttpError } from '@homing/resilience';

/**
 * The app's own async function. It resolves: delivered. It throws a `DestinationError`: failed,
 * permanently (dead letters) when `permanent` is set, else retried (after its `retryAfterMs`
 * when given). An `HttpError` from @homing/resilience, or an error of `kind: 'http'` with a 4xx
 * or 5xx `status`, is classified by its status. Anything else it throws is retried: a bug in the
 * sender (or a network error that merely calls itself 'http') must not throw events away.
 */
export class CustomDestination implements Destination {
  readonly sendsOnUnload = false;
  private readonly fn: CustomSend;

  constructor(private readonly endpoint: ResolvedEndpoint) {
    this.fn = endpoint.send!;
  }

  async send(records: readonly OutboxRecord[], context: SendContext): Promise<SendOutcome> {
    const events: HomingEvent[] = [];
    const rejected: RejectedRecord[] = [];
    records.forEach((record, index) => {
      try {
        events.push(JSON.parse(record.json) as HomingEvent);
      } catch {
        rejected.push({ index, reason: 'stored event is not valid JSON' });
      }
    });
    if (events.length === 0) return { kind: 'accepted', rejected };
    // Given up already (a shutdown's budget spent): the app's function is not called at all.
    if (context.signal.aborted) return failure(context.signal.reason, context.signal);
    try {
      await abortable(
        Promise.resolve().then(() => this.fn(events, { signal: context.signal, endpoint: this.endpoint.id })),
        context.signal,
      );
    } catch (error) {
      return failure(error, context.signal);
    }
    return { kind: 'accepted', rejected };
  }

  unloadRequest(): null {
    return null;
  }
}

function failure(error: unknown, signal: AbortSignal): SendOutcome {
  if (error instanceof DestinationError) {
    const base = {
      kind: 'failed' as const,
      failure: error.permanent ? ('permanent' as const) : ('retryable' as const),
      reason: error.message,
      error,
    };
    return error.retryAfterMs === undefined ? base : { ...base, retryAfterMs: error.retryAfterMs };
  }
  if (isHttpFailure(error)) {
    const c = classifyHttpFailure({ error });
    const kind: FailureKind =
      read(error, 'status') === 413
        ? 'too-large'
        : // A 409, or an HttpError made by hand with a success status: nothing says the events
          // can never be taken.
          c.kind === 'conflict' || c.kind === 'success'
          ? 'retryable'
          : c.kind;
    const base = { kind: 'failed' as const, failure: kind, reason: c.reason, error };
    return c.retryAfterMs === undefined ? base : { ...base, retryAfterMs: c.retryAfterMs };
  }
  const reason = signal.aborted
    ? 'custom destination did not finish before the request timeout'
    : describe(error);
  return { kind: 'failed', failure: 'retryable', reason, error };
}

/**
 * Whether an error is an HTTP answer to classify by its status: a real `HttpError`, or one that
 * calls itself `kind: 'http'` and carries a 4xx or 5xx `status`. Duck typing on `kind` alone sent
 * an app's network error (`kind: 'http'`, no status) to the dead letters, as "unrecognised".
 */
function isHttpFailure(error: unknown): boolean {
  try {
    if (error instanceof HttpError) return true;
  } catch {
    // A revoked Proxy throws at `instanceof`: not an HttpError.
  }
  if (read(error, 'kind') !== 'http') return false;
  const status = read(error, 'status');
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 599;
}

/** A property of whatever was thrown; undefined when reading it throws (a getter, a Proxy). */
function read(value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object') return undefined;
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** Stops waiting when the signal aborts, even if the app's function ignores the signal. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // Nobody waits for it any more: its rejection must not reach the host as unhandled.
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) return `custom destination failed: ${error.message}`;
  return `custom destination failed: ${String(error)}`;
}
