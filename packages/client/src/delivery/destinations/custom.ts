import type { HomingEvent } from '../../event.js';
import type { OutboxRecord } from '../../outbox/outbox.js';
import type { CustomSend, ResolvedEndpoint } from '../deliveryOptions.js';
import { DestinationError } from '../errors.js';
import type { Destination, FailureKind, RejectedRecord, SendContext, SendOutcome } from './destination.js';
import { classifyHttpFailure } from '@homing/resilience';

/**
 * The app's own async function. It resolves: delivered. It throws a `DestinationError`: failed,
 * permanently (dead letters) when `permanent` is set, else retried (after its `retryAfterMs`
 * when given). An `HttpError` from @homing/resilience is classified by its status. Anything else
 * it throws is retried: a bug in the sender must not throw events away.
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
  if ((error as { kind?: unknown } | null)?.kind === 'http') {
    const c = classifyHttpFailure({ error });
    const status = (error as { status?: unknown }).status;
    const kind: FailureKind =
      status === 413
        ? 'too-large'
        : c.kind === 'conflict'
          ? 'retryable'
          : c.kind === 'success'
            ? 'permanent'
            : c.kind;
    const base = { kind: 'failed' as const, failure: kind, reason: c.reason, error };
    return c.retryAfterMs === undefined ? base : { ...base, retryAfterMs: c.retryAfterMs };
  }
  const reason = signal.aborted
    ? 'custom destination did not finish before the request timeout'
    : describe(error);
  return { kind: 'failed', failure: 'retryable', reason, error };
}

/** Stops waiting when the signal aborts, even if the app's function ignores the signal. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
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
