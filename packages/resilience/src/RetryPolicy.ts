import { sleep } from './abort.js';
import type { Backoff, BackoffSequence } from './backoff.js';
import { exponentialBackoff, isBackoff } from './backoff.js';
import { abortReason, CallContext, isAborted } from './CallContext.js';
import { ConfigError, RetryPredicateError, TaskCancelledError } from './errors.js';
import type { EventSubscriber } from './events.js';
import { Emitter } from './events.js';
import { monotonicNow } from './monotonicNow.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';
import {
  checkBudget,
  checkDelay,
  checkFunction,
  checkInteger,
  checkKnown,
  checkObject,
  clampDelay,
} from './validate.js';
import { readProperty } from './readProperty.js';

export interface RetryOptions {
  /** All attempts, the first included. Default 3. */
  readonly maxAttempts?: number;
  /** No retry starts whose backoff would end later than this after the first attempt began. Default Infinity. */
  readonly maxElapsedMs?: number;
  /** Delays between attempts. Default exponential, 100 ms median first delay, decorrelated jitter, 30 s cap. */
  readonly backoff?: Backoff;
  /** Which errors to retry. Default `isRetryableError`. */
  readonly retryOn?: (error: unknown) => boolean;
  /** Which results to retry (e.g. a response with status 503). Default none. */
  readonly retryOnResult?: (result: unknown) => boolean;
  /** Cap on a delay an error asks for through `retryAfterMs` (e.g. Retry-After). Default 60 000 ms. */
  readonly maxRetryAfterMs?: number;
}

export interface RetryEvent {
  /** The attempt that just failed, 0 for the first. */
  readonly attempt: number;
  /** How long before the next attempt, ms. */
  readonly delayMs: number;
  readonly error?: unknown;
  readonly result?: unknown;
}

/** `predicate-threw`: `retryOn` or `retryOnResult` threw; the event's `error` is the RetryPredicateError. */
export type GiveUpReason = 'max-attempts' | 'max-elapsed' | 'not-retryable' | 'cancelled' | 'predicate-threw';

export interface GiveUpEvent {
  /** Attempts made. */
  readonly attempts: number;
  readonly reason: GiveUpReason;
  readonly error?: unknown;
  readonly result?: unknown;
}

const KNOWN = ['maxAttempts', 'maxElapsedMs', 'backoff', 'retryOn', 'retryOnResult', 'maxRetryAfterMs'];

/**
 * The default `retryOn`: every error except those retrying cannot fix: a cancelled call, a bad
 * configuration, an isolated breaker, and an HTTP failure classified permanent or conflict.
 */
export function isRetryableError(error: unknown): boolean {
  // Guarded reads: a getter or Proxy trap that throws says nothing against retrying.
  const kind = readProperty(error, 'kind');
  if (kind === 'cancelled' || kind === 'config' || kind === 'circuit-isolated') return false;
  if (kind === 'http') {
    const http = readProperty(readProperty(error, 'classification'), 'kind');
    return http !== 'permanent' && http !== 'conflict';
  }
  return true;
}

/**
 * Runs a call again when it fails. An error's own `retryAfterMs` (a finite number >= 0, as on an
 * HttpError made from a 429 or 503 with Retry-After) replaces the computed delay, capped by
 * `maxRetryAfterMs`; a BrokenCircuitError's is not waited for (the backoff applies). The
 * caller's signal ends a backoff sleep at once.
 */
export class RetryPolicy extends PolicyBase {
  readonly maxAttempts: number;
  readonly maxElapsedMs: number;
  private readonly backoff: Backoff;
  private readonly retryOn: (error: unknown) => boolean;
  private readonly retryOnResult: ((result: unknown) => boolean) | undefined;
  private readonly maxRetryAfterMs: number;
  private readonly retryEvents = new Emitter<RetryEvent>();
  private readonly giveUpEvents = new Emitter<GiveUpEvent>();

  /** Before each retry's sleep. */
  readonly onRetry: EventSubscriber<RetryEvent> = this.retryEvents.subscribe;
  /** When the policy stops with a failure or a result it would have retried. */
  readonly onGiveUp: EventSubscriber<GiveUpEvent> = this.giveUpEvents.subscribe;

  constructor(options: RetryOptions = {}) {
    super();
    checkObject('retry options', options);
    checkKnown('retry', options, KNOWN);
    this.maxAttempts = checkInteger('maxAttempts', options.maxAttempts ?? 3, 1);
    this.maxElapsedMs = checkBudget('maxElapsedMs', options.maxElapsedMs ?? Number.POSITIVE_INFINITY);
    const backoff = options.backoff ?? exponentialBackoff();
    if (!isBackoff(backoff))
      throw new ConfigError('backoff', 'must be a Backoff (e.g. exponentialBackoff())');
    this.backoff = backoff;
    this.retryOn = checkFunction('retryOn', options.retryOn ?? isRetryableError);
    this.retryOnResult =
      options.retryOnResult === undefined ? undefined : checkFunction('retryOnResult', options.retryOnResult);
    this.maxRetryAfterMs = checkDelay('maxRetryAfterMs', options.maxRetryAfterMs ?? 60_000);
  }

  /** @internal */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    let sequence: BackoffSequence | undefined;
    // Read the clock up front only when there is an elapsed budget to keep. A monotonic one: on
    // the wall clock, a step back stretched the budget by its size (a call retried for an hour).
    const started = this.maxElapsedMs === Number.POSITIVE_INFINITY ? 0 : monotonicNow();
    for (let attempt = 0; ; attempt++) {
      const inner =
        attempt === 0 && context.attempt === 0
          ? context
          : new CallContext(context, undefined, attempt, undefined);
      let failed = false;
      let outcome: unknown;
      try {
        outcome = await next(fn, inner, chain, index);
      } catch (error) {
        failed = true;
        outcome = error;
      }
      // The predicates run outside that try: one that throws must not pass for the call failing.
      if (!failed && (this.retryOnResult === undefined || !this.decide(outcome, attempt, false)))
        return outcome as T;
      // The failure path: everything below runs only when a retry is being considered.
      const giveUp = (reason: GiveUpReason): void => {
        if (this.giveUpEvents.listening) {
          this.giveUpEvents.emit(
            failed
              ? { attempts: attempt + 1, reason, error: outcome }
              : { attempts: attempt + 1, reason, result: outcome },
          );
        }
      };
      const give = (reason: GiveUpReason): T => {
        giveUp(reason);
        if (failed) throw outcome;
        return outcome as T;
      };
      if (isAborted(context)) {
        if (failed) return give('cancelled');
        giveUp('cancelled');
        throw new TaskCancelledError(abortReason(context));
      }
      if (failed && !this.decide(outcome, attempt, true)) return give('not-retryable');
      if (attempt + 1 >= this.maxAttempts) return give('max-attempts');
      sequence ??= this.backoff.start();
      // A Backoff of the app's own may answer anything: kept to what a timer can wait.
      let delayMs = clampDelay(sequence.next());
      // An open circuit's retryAfterMs is not waited for: the breaker is there to fail fast, and a
      // retry around it that slept until half-open held every call for a whole open period.
      const asked =
        failed && readProperty(outcome, 'kind') !== 'circuit-open'
          ? readProperty(outcome, 'retryAfterMs')
          : undefined;
      if (typeof asked === 'number' && Number.isFinite(asked) && asked >= 0) {
        delayMs = Math.min(asked, this.maxRetryAfterMs);
      }
      if (monotonicNow() + delayMs - started > this.maxElapsedMs) return give('max-elapsed');
      if (this.retryEvents.listening) {
        this.retryEvents.emit(
          failed ? { attempt, delayMs, error: outcome } : { attempt, delayMs, result: outcome },
        );
      }
      try {
        if (delayMs > 0) await sleep(delayMs, context.signal);
        else {
          // No delay still gives the event loop a turn: with none, a call failing at once (or a
          // Retry-After: 0) ran every attempt in one go, and no timer, abort included, could fire.
          await nextTurn();
          if (isAborted(context)) throw new TaskCancelledError(abortReason(context));
        }
      } catch (cancelled) {
        giveUp('cancelled');
        throw cancelled;
      }
    }
  }

  /**
   * `retryOn(error)` or `retryOnResult(result)`. If the predicate throws, the policy gives up
   * with a RetryPredicateError: thrown from here, it reaches the caller past every retry.
   */
  private decide(outcome: unknown, attempt: number, failed: boolean): boolean {
    try {
      return failed ? this.retryOn(outcome) : this.retryOnResult!(outcome);
    } catch (predicateError) {
      const error = new RetryPredicateError(failed ? 'retryOn' : 'retryOnResult', predicateError, {
        cause: failed ? outcome : predicateError,
      });
      if (this.giveUpEvents.listening) {
        this.giveUpEvents.emit(
          failed
            ? { attempts: attempt + 1, reason: 'predicate-threw', error }
            : { attempts: attempt + 1, reason: 'predicate-threw', error, result: outcome },
        );
      }
      throw error;
    }
  }
}

/** Node's setImmediate where there is one (a browser's setTimeout(0) may wait 4 ms). */
function nextTurn(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return new Promise((resolve) => {
    if (typeof immediate === 'function') immediate(resolve);
    else setTimeout(resolve, 0);
  });
}

export function retry(options?: RetryOptions): RetryPolicy {
  return new RetryPolicy(options);
}
