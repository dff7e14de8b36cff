import type { ReplacedWhole } from './destinations/redactedTraits.js';
import type {
  BackoffSequence,
  CircuitBreakerPolicy,
  CircuitBreakerSnapshot,
  CircuitState,
} from '@homing/resilience';
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  exponentialBackoff,
  IsolatedCircuitError,
  watchAbort,
} from '@homing/resilience';
import type { EmitClientEvent } from '../events.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxRecord } from '../outbox/outbox.js';
import type { Platform } from '../platform/platform.js';
import type { DeliveryOptions, ResolvedEndpoint } from './deliveryOptions.js';
import { CUT_REQUEST_FAILS_AFTER_MS, MIN_RETRY_WAIT_MS } from './deliveryOptions.js';
import { openPeriods } from './breakerOpenPeriods.js';
import { createDestination } from './destinations/createDestination.js';
import type { Destination, SendOutcome } from './destinations/destination.js';
import { type SavedServerWait, savedServerWaitAt, serverWaitStateKey } from './savedServerWait.js';

/** Outbox state key of an endpoint's breaker snapshot. */
export function breakerStateKey(endpointId: string): string {
  return `breaker:${endpointId}`;
}

/** Outbox state key listing the endpoint ids that have a saved breaker (read by `homing status`). */
export const ENDPOINTS_STATE_KEY = 'delivery:endpoints';

/**
 * Outbox state key of where the app sends (`SavedSending`): its mode and its endpoints other than
 * custom ones, keys included (write keys, which browsers ship anyway), so `homing flush --outbox
 * DIR` can send what an app left behind without being told where.
 */
export const SENDING_STATE_KEY = 'delivery:sending';

export interface SavedSending {
  readonly mode: 'failover' | 'fanout';
  readonly endpoints: readonly {
    readonly name: string;
    readonly destination: 'homing' | 'posthog' | 'segment';
    readonly host: string;
    readonly key: string;
  }[];
  /**
   * The app's breaker: the saved breaker states are open for its periods, which a command
   * sending for it must use too (absent in what versions before it saved; the first period,
   * `initialHalfOpenAfterMs`, absent in what versions before it saved, which had none).
   */
  readonly breaker?: {
    readonly threshold: number;
    readonly halfOpenAfterMs: number;
    readonly initialHalfOpenAfterMs?: number;
  };
}

/** What one attempt on one endpoint came to. */
export type AttemptResult = SendOutcome | { readonly kind: 'not-ready'; readonly retryAfterMs: number };

export interface EndpointSnapshot {
  readonly state: CircuitState;
  /** When open: no request before this time (ms since the epoch). */
  readonly openUntilMs: number | null;
  /** No request before this time: the backoff or Retry-After of the last failure. */
  readonly retryAtMs: number | null;
}

/**
 * Thrown inside the breaker so that a retryable failure counts against the circuit; never
 * leaves this file. Outcomes that show the endpoint is alive (accepted, permanent, 429, 413)
 * are returned instead, and count as successes. `counts` is false for a request our own
 * shutdown or exit cut before it had waited long enough to say anything about the endpoint.
 */
class RetryableAttempt extends Error {
  readonly kind = 'retryable-attempt' as const;
  constructor(
    readonly outcome: SendOutcome,
    readonly counts: boolean,
  ) {
    super(outcome.kind === 'failed' ? outcome.reason : 'failed');
  }
}

interface ChannelDeps {
  readonly outbox: Outbox;
  readonly platform: Platform;
  readonly logger: Logger;
  readonly emit: EmitClientEvent;
  readonly replacedWhole?: ReplacedWhole;
}

/**
 * One endpoint as delivery sees it: its destination, its circuit breaker (saved in the outbox
 * on every state change and whenever its count of failures in a row changes, restored on
 * start), and when it may be tried again. A failing endpoint waits by timestamp (`retryAt`):
 * nothing sleeps while holding records.
 *
 * The count is saved, not only the state, for short-lived processes: a CLI run against a dead
 * endpoint fails once or twice before it exits, never `threshold` times, so a breaker that
 * forgot its count at every start never opened and every run sent (and waited) again.
 */
export class EndpointChannel {
  readonly id: string;
  readonly destination: Destination;
  private breaker: CircuitBreakerPolicy;
  private subscription: { dispose(): void };
  private backoff: BackoffSequence | undefined;
  private retryAt = 0;
  /** How long the wait that set `retryAt` was: it never ends later than that from now. */
  private retryWaitMs = 0;
  /** No request before this time: it refused a batch that now waits for another endpoint. */
  private refusedUntil = 0;
  /** How long the wait that set `refusedUntil` was: it never ends later than that from now. */
  private refusalWaitMs = 0;
  private refusalBackoff: BackoffSequence | undefined;
  private persisting: Promise<void> = Promise.resolve();
  /** The failures in a row in the snapshot saved last (or restored): a change is saved. */
  private savedFailures = 0;
  /** A wait the endpoint asked for is in the outbox's state (`savedServerWait.ts`). */
  private serverWaitSaved = false;
  /** `retryAt` is a wait the endpoint asked for (Retry-After, 429), not a backoff of ours. */
  private retryAskedByServer = false;
  /** Attempts begun (`beginAttempt`), and how many had begun when the current wait was set. */
  private attemptsBegun = 0;
  private waitSetAfter = 0;

  constructor(
    readonly endpoint: ResolvedEndpoint,
    private readonly options: DeliveryOptions,
    private readonly deps: ChannelDeps,
  ) {
    this.id = endpoint.id;
    this.destination = createDestination(endpoint, deps.replacedWhole);
    this.breaker = this.makeBreaker(undefined);
    this.subscription = this.watch();
  }

  /**
   * Reads what a previous run saved, the breaker's snapshot and a wait the endpoint asked for,
   * so a restarted process does not hammer a dead or rate-limiting endpoint.
   */
  async restore(): Promise<void> {
    await Promise.all([this.restoreBreaker(), this.restoreServerWait()]);
  }

  /** What an earlier run saved under `key`; undefined when nothing, or when it cannot be read. */
  private async readSaved(key: string, what: string): Promise<unknown> {
    try {
      return await this.deps.outbox.getState(key);
    } catch (error) {
      this.deps.logger.warn(`could not read ${what}`, { endpoint: this.id, error });
      return undefined;
    }
  }

  private async restoreBreaker(): Promise<void> {
    const saved = await this.readSaved(breakerStateKey(this.id), 'the saved circuit breaker state');
    if (saved === undefined) return;
    const snapshot = saved as Partial<CircuitBreakerSnapshot> | null;
    if (snapshot?.state === 'isolated') {
      // This client never isolates an endpoint, so a saved 'isolated' is a damaged or hand-edited
      // file: restored, it would silence the endpoint for good, with no error to show for it.
      this.deps.logger.warn('ignoring a saved isolated circuit breaker state', { endpoint: this.id });
      return;
    }
    let restored: CircuitBreakerPolicy;
    try {
      restored = this.makeBreaker(saved as CircuitBreakerSnapshot);
    } catch (error) {
      // A snapshot from another version or a hand-edited file: start closed rather than fail.
      this.deps.logger.warn('ignoring an unreadable circuit breaker snapshot', { endpoint: this.id, error });
      return;
    }
    this.subscription.dispose();
    this.breaker = restored;
    this.savedFailures = failuresIn(restored.snapshot());
    this.subscription = this.watch();
    if (restored.state !== 'closed')
      this.deps.emit('breaker-state', { endpoint: this.id, state: restored.state });
  }

  private async restoreServerWait(): Promise<void> {
    const saved = await this.readSaved(serverWaitStateKey(this.id), 'the saved wait of an endpoint');
    if (saved === undefined) return;
    this.serverWaitSaved = true;
    const wait = savedServerWaitAt(saved, Date.now(), this.options.maxRetryAfterMs);
    if (wait === null || wait.untilMs <= this.retryAt) return;
    this.retryAt = wait.untilMs;
    this.retryWaitMs = wait.waitMs;
    this.retryAskedByServer = true;
  }

  get state(): CircuitState {
    return this.breaker.state;
  }

  /** The earliest time a request may go out (≤ now: ready). */
  readyAt(now: number): number {
    this.holdWaitsToTheirLength(now);
    let at = Math.max(this.retryAt, this.refusedUntil);
    const state = this.breaker.state;
    if (state === 'isolated') return Number.POSITIVE_INFINITY;
    if (state === 'open') at = Math.max(at, this.breaker.snapshot().openUntil);
    return at <= now ? now : at;
  }

  isReady(now: number): boolean {
    return this.readyAt(now) <= now;
  }

  /** Whether the endpoint asked for the wait it is in (Retry-After, 429), in this run or an earlier one. */
  waitsAsAsked(now: number): boolean {
    this.holdWaitsToTheirLength(now);
    return this.retryAskedByServer && this.retryAt > now;
  }

  /**
   * Sends through the breaker with a request timeout; `cancel` (shutdown, or the end of the exit
   * budget) aborts it too. Such a cut request counts against the circuit only once it had waited
   * `CUT_REQUEST_FAILS_AFTER_MS` (or `requestTimeoutMs`, when shorter) without an answer: cut
   * sooner, it says nothing about the endpoint; cut later, it is what an endpoint that never
   * answers looks like to a CLI, whose exit budget (2 s) ends every request long before its
   * timeout (10 s), and which would otherwise send to it, and wait, on every run forever.
   */
  async attempt(
    records: readonly OutboxRecord[],
    sentAt: string,
    cancel: AbortSignal,
  ): Promise<AttemptResult> {
    const controller = new AbortController();
    const timeoutMs = this.options.requestTimeoutMs;
    const timer = setTimeout(
      () => controller.abort(new Error(`request timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    (timer as { unref?: () => void }).unref?.();
    const onCancel = (): void => controller.abort(new Error('request cancelled (shutdown or process exit)'));
    // One listener on the shared signal however many attempts run (fanout × concurrency).
    const unwatch = cancel.aborted ? (onCancel(), () => {}) : watchAbort(cancel, onCancel);
    const context = {
      signal: controller.signal,
      platform: this.deps.platform,
      gzipMinBytes: this.options.gzip ? this.options.gzipMinBytes : null,
      sentAt,
    };
    const startedAt = Date.now();
    try {
      return await this.breaker.execute(async () => {
        const outcome = await this.destination.send(records, context);
        if (outcome.kind === 'failed' && outcome.failure === 'retryable') {
          const counts = !cancel.aborted || Date.now() - startedAt >= this.cutCountsAfterMs();
          throw new RetryableAttempt(outcome, counts);
        }
        return outcome;
      });
    } catch (error) {
      if (error instanceof RetryableAttempt) return error.outcome;
      if (error instanceof BrokenCircuitError) return { kind: 'not-ready', retryAfterMs: error.retryAfterMs };
      if (error instanceof IsolatedCircuitError)
        return { kind: 'not-ready', retryAfterMs: Number.POSITIVE_INFINITY };
      // A destination that threw instead of answering an outcome (a bug): retry, never lose.
      return { kind: 'failed', failure: 'retryable', reason: `unexpected error: ${String(error)}`, error };
    } finally {
      clearTimeout(timer);
      unwatch();
      this.saveFailureCount();
    }
  }

  /** Numbers an attempt about to be made, for `settle`. */
  beginAttempt(): number {
    return ++this.attemptsBegun;
  }

  /**
   * Books an attempt's result (`attempt`: its number from `beginAttempt`); answers how long until
   * this endpoint may be tried again.
   */
  settle(result: AttemptResult, now: number, attempt = Number.POSITIVE_INFINITY): number {
    if (result.kind === 'accepted') {
      // Sent before the endpoint asked for a wait, it says nothing of the endpoint since: with
      // several batches in flight, one answered 429 or 503 with Retry-After and the others' late
      // 200s ended the wait the server had asked for, and the next requests went out at once.
      // A backoff of our own ends with any success: behind a load balancer with one failing
      // server, a failure settled first in nearly every wave of four, the others' successes were
      // not counted, and the backoff climbed to its cap (a minute without a request) while
      // two requests in three went through.
      if (this.retryAskedByServer && attempt <= this.waitSetAfter)
        return Math.max(0, this.readyAt(now) - now);
      this.backoff = undefined;
      this.retryAt = 0;
      this.retryAskedByServer = false;
      if (this.serverWaitSaved) this.saveServerWait(undefined);
      return 0;
    }
    if (result.kind === 'not-ready') return Math.max(0, this.readyAt(now) - now);
    if (result.failure === 'retryable' || result.failure === 'rate-limited') {
      const asked = result.retryAfterMs;
      this.backoff ??= exponentialBackoff({ ...this.options.retry, jitter: 'full' }).start();
      // Full jitter draws from 0 up to its cap: a draw of a few ms tried a refused endpoint
      // again almost at once. The floor holds for every wait, as the README promises.
      const backoff = Math.max(MIN_RETRY_WAIT_MS, this.backoff.next());
      // Retry-After is a floor, never a way round the backoff: 'Retry-After: 0' (or a date in
      // the past) answered with every failure sent the retries out at once, and the breaker
      // opened within milliseconds.
      const delay =
        asked === undefined ? backoff : Math.max(Math.min(asked, this.options.maxRetryAfterMs), backoff);
      const askedNow = asked !== undefined || result.failure === 'rate-limited';
      if (!askedNow && this.retryAskedByServer && this.retryAt > now) {
        // A wait the endpoint asked for is still running: a failure of a request sent before it
        // (a reset, a 503 without Retry-After) neither shortens it nor makes it a backoff of ours,
        // which the next success would end (and with it the wait saved for the next process).
        if (now + delay > this.retryAt) {
          this.retryAt = now + delay;
          this.retryWaitMs = delay;
        }
        return Math.max(0, this.readyAt(now) - now);
      }
      this.retryWaitMs = delay;
      this.retryAt = now + delay;
      this.retryAskedByServer = askedNow;
      this.waitSetAfter = this.attemptsBegun;
      // What the endpoint asked for holds for the next process too; a backoff of our own does not
      // (the breaker's saved count stands for repeated failures).
      if (askedNow) this.saveServerWait({ untilMs: this.retryAt, waitMs: delay });
    }
    return Math.max(0, this.readyAt(now) - now);
  }

  /**
   * This endpoint refused a batch for good while another endpoint may still take it, so the batch
   * was given back to the outbox: the endpoint waits (growing like the retry backoff) instead of
   * being sent the same batch again at once. Answers the wait in ms.
   */
  waitAfterRefusal(now: number): number {
    this.refusalBackoff ??= exponentialBackoff({ ...this.options.retry, jitter: 'full' }).start();
    this.refusalWaitMs = this.refusalBackoff.next();
    this.refusedUntil = now + this.refusalWaitMs;
    return Math.max(0, this.readyAt(now) - now);
  }

  /** The batch it refused was settled (sent elsewhere or dead-lettered): no more reason to wait. */
  endRefusalWait(): void {
    this.refusalBackoff = undefined;
    this.refusedUntil = 0;
  }

  snapshot(now: number): EndpointSnapshot {
    this.holdWaitsToTheirLength(now);
    const snap = this.breaker.snapshot();
    const retryAt = Math.max(this.retryAt, this.refusedUntil);
    return {
      state: snap.state,
      openUntilMs: snap.state === 'open' ? snap.openUntil : null,
      retryAtMs: retryAt > now ? retryAt : null,
    };
  }

  /** Resolves when every snapshot written so far is stored. */
  settled(): Promise<void> {
    return this.persisting;
  }

  dispose(): void {
    this.subscription.dispose();
  }

  private makeBreaker(initialState: CircuitBreakerSnapshot | undefined): CircuitBreakerPolicy {
    return circuitBreaker({
      breaker: new ConsecutiveBreaker(this.options.breaker.threshold),
      halfOpenAfter: openPeriods(this.options.breaker),
      halfOpenMaxProbes: 1,
      isFailure: (error) => error instanceof RetryableAttempt && error.counts,
      ...(initialState === undefined ? {} : { initialState }),
    });
  }

  /**
   * Every wait here ends at a wall-clock time, as the breaker's must (its snapshot is saved for
   * later processes). A clock stepped back held each of them for the size of the step: a day back
   * stalled delivery for a day. So none may end later than its own length from now; an open
   * breaker whose snapshot says otherwise is rebuilt from it, as a restarted process would, since
   * its restore holds it open for one period at most (a breaker that keeps its period on a
   * monotonic clock answers a right snapshot already, and is left alone).
   */
  private holdWaitsToTheirLength(now: number): void {
    if (this.retryAt - now > this.retryWaitMs) this.retryAt = now + this.retryWaitMs;
    if (this.refusedUntil - now > this.refusalWaitMs) this.refusedUntil = now + this.refusalWaitMs;
    if (this.breaker.state !== 'open') return;
    const snapshot = this.breaker.snapshot();
    // Its own now, read after the snapshot's: a breaker that converts its deadline to a wall time
    // as it answers is never taken for one held too long by a `now` read a moment earlier.
    if (snapshot.openUntil - Date.now() <= this.options.breaker.halfOpenAfterMs) return;
    this.subscription.dispose();
    this.breaker = this.makeBreaker(snapshot);
    this.subscription = this.watch();
  }

  /** How long a request cut by shutdown or exit must have waited to count as failed. */
  private cutCountsAfterMs(): number {
    return Math.min(CUT_REQUEST_FAILS_AFTER_MS, this.options.requestTimeoutMs);
  }

  /**
   * After an attempt: saves the snapshot when the closed circuit's count of failures in a row
   * changed (one more failure, or a success after some). A state change saves itself (`watch`).
   * One small state write per failed attempt, which the retry backoff already spaces out.
   */
  private saveFailureCount(): void {
    if (this.breaker.state !== 'closed') return;
    const snapshot = this.breaker.snapshot();
    if (failuresIn(snapshot) !== this.savedFailures) this.save(snapshot);
  }

  private watch(): { dispose(): void } {
    return this.breaker.onStateChange(({ to }) => {
      this.deps.emit('breaker-state', { endpoint: this.id, state: to });
      this.deps.logger.debug('circuit breaker state', { endpoint: this.id, state: to });
      this.save(this.breaker.snapshot());
    });
  }

  private saveServerWait(wait: SavedServerWait | undefined): void {
    this.serverWaitSaved = wait !== undefined;
    this.persisting = this.persisting
      .then(() => this.deps.outbox.setState(serverWaitStateKey(this.id), wait))
      .catch((error: unknown) => {
        this.deps.logger.warn('could not save the wait an endpoint asked for', { endpoint: this.id, error });
      });
  }

  private save(snapshot: CircuitBreakerSnapshot): void {
    this.savedFailures = failuresIn(snapshot);
    // Chained so snapshots land in the order they were taken.
    this.persisting = this.persisting
      .then(() => this.deps.outbox.setState(breakerStateKey(this.id), snapshot))
      .catch((error: unknown) => {
        this.deps.logger.warn('could not save the circuit breaker state', { endpoint: this.id, error });
      });
  }
}

/** The failures in a row a snapshot of our `ConsecutiveBreaker` holds (0 when it cannot say). */
function failuresIn(snapshot: CircuitBreakerSnapshot): number {
  const count = (snapshot.breaker as { count?: unknown } | null)?.count;
  return typeof count === 'number' ? count : 0;
}
