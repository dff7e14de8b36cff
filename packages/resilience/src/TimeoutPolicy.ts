import type { Deadline } from './CallContext.js';
import { CallContext, peek } from './CallContext.js';
import { ConfigError, TaskCancelledError, TaskTimeoutError } from './errors.js';
import type { EventSubscriber } from './events.js';
import { Emitter } from './events.js';
import { monotonicNow } from './monotonicNow.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';
import { checkDelay, checkKnown, checkObject, MAX_TIMER_MS } from './validate.js';
import { watchAbort } from './watchAbort.js';

/**
 * - `cooperative`: at the deadline the call's `context.signal` aborts and the policy waits for
 *   the function to settle; if it then fails, it fails with a TaskTimeoutError (the function's
 *   error as `cause`); a late success is still returned.
 * - `aggressive`: the same signal, and the policy also rejects with a TaskTimeoutError at the
 *   deadline without waiting for the function.
 */
export type TimeoutStrategy = 'cooperative' | 'aggressive';

export interface TimeoutOptions {
  /** Default 'aggressive'. */
  readonly strategy?: TimeoutStrategy;
}

export interface TimeoutEvent {
  readonly timeoutMs: number;
}

class Entry implements Deadline {
  expired = false;
  done = false;
  controller: AbortController | undefined = undefined;
  reason: unknown = undefined;
  listener: CallContext | undefined = undefined;
  reject: ((error: unknown) => void) | undefined = undefined;
  /** Stops watching the outer signal for this call. */
  unwatch: (() => void) | undefined = undefined;
  /** `deadline` is on `monotonicNow()`'s clock, not the wall clock. */
  constructor(readonly deadline: number) {}
}

/**
 * Bounds how long a call may take. No timer per call: every call of one policy has the same
 * duration, so deadlines arrive in the order calls start. They wait in a FIFO; one shared timer
 * is armed for the oldest, and calls that finish are dropped from the front.
 *
 * The timer is unref'd, so a policy never holds a process by itself; but a caller awaits what
 * it ends (the aggressive rejection, or the abort a cooperative function waits for), and a
 * script whose only pending work is a timed call would exit mid-await (code 13). So when Node's
 * event loop runs dry (`beforeExit`) while calls are pending, their timers are ref'd until the
 * queue empties: the deadline still comes. This costs a call nothing; ref'ing the timer per call
 * (an earlier fix) cost about 30 ns of a 390 ns retry + breaker + timeout composition.
 */
export class TimeoutPolicy extends PolicyBase {
  readonly timeoutMs: number;
  readonly strategy: TimeoutStrategy;
  private queue: Entry[] = [];
  private head = 0;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  private timerAt = 0;
  /** Hold the process with the timer until the queue empties (set when the loop ran dry). */
  private held = false;
  private readonly timeoutEvents = new Emitter<TimeoutEvent>();

  /** A call reached its deadline. */
  readonly onTimeout: EventSubscriber<TimeoutEvent> = this.timeoutEvents.subscribe;

  constructor(timeoutMs: number, options: TimeoutOptions = {}) {
    super();
    this.timeoutMs = checkDelay('timeoutMs', timeoutMs);
    checkObject('timeout options', options);
    checkKnown('timeout', options, ['strategy']);
    const strategy = options.strategy ?? 'aggressive';
    if (strategy !== 'cooperative' && strategy !== 'aggressive') {
      throw new ConfigError('strategy', "must be 'cooperative' or 'aggressive'");
    }
    this.strategy = strategy;
    watchLoopRunningDry(this);
  }

  /**
   * Node's loop ran dry: calls still pending are awaited by someone, so the timer holds the
   * process until they are over. @internal
   */
  holdWhilePending(): void {
    if (this.held || this.timer === undefined || this.pending === 0) return;
    this.held = true;
    (this.timer as { ref?: () => void }).ref?.();
  }

  /** Calls being timed now. */
  get pending(): number {
    let n = 0;
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.done) n++;
    return n;
  }

  /** @internal */
  run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    return this.strategy === 'cooperative'
      ? this.cooperative(fn, context, chain, index)
      : this.aggressive(fn, context, chain, index);
  }

  private async cooperative<T>(
    fn: Task<T>,
    context: PolicyContext,
    chain: readonly Policy[],
    index: number,
  ): Promise<T> {
    const entry = this.enqueue();
    const inner = new CallContext(context, undefined, context.attempt, entry);
    try {
      return await next(fn, inner, chain, index);
    } catch (error) {
      if (entry.expired) throw new TaskTimeoutError(this.timeoutMs, { cause: error });
      throw error;
    } finally {
      this.finish(entry, inner);
    }
  }

  private aggressive<T>(
    fn: Task<T>,
    context: PolicyContext,
    chain: readonly Policy[],
    index: number,
  ): Promise<T> {
    const entry = this.enqueue();
    const inner = new CallContext(context, undefined, context.attempt, entry);
    // The caller's cancellation (or an enclosing timeout's), like the deadline, does not wait
    // for the function: it rejects with a TaskCancelledError (not a timeout) unless the
    // function settles in the turn it was told. One listener per signal for all its calls
    // (`watchAbort`): a request-scoped signal shared by many calls gets no listener each.
    const outer = peek(context);
    return new Promise<T>((resolve, reject) => {
      entry.reject = reject;
      if (outer !== undefined && !outer.aborted) {
        entry.unwatch = watchAbort(outer, () => {
          if (entry.done) return;
          const cancelled = setTimeout(() => {
            if (entry.done) return;
            this.finish(entry, inner);
            reject(new TaskCancelledError(outer.reason));
          }, 0);
          (cancelled as { unref?: () => void }).unref?.();
        });
      }
      let result: T | PromiseLike<T>;
      try {
        result = next(fn, inner, chain, index);
      } catch (error) {
        this.finish(entry, inner);
        reject(error);
        return;
      }
      Promise.resolve(result).then(
        (value) => {
          this.finish(entry, inner);
          resolve(value);
        },
        (error: unknown) => {
          this.finish(entry, inner);
          reject(entry.expired ? new TaskTimeoutError(this.timeoutMs, { cause: error }) : error);
        },
      );
    });
  }

  private enqueue(): Entry {
    const now = monotonicNow();
    const entry = new Entry(now + this.timeoutMs);
    this.queue.push(entry);
    // Arm only when no timer is pending: a pending one fires no later than this deadline.
    if (this.timer === undefined) this.arm(entry.deadline, now);
    return entry;
  }

  private finish(entry: Entry, context: CallContext): void {
    entry.done = true;
    entry.reject = undefined;
    entry.unwatch?.();
    context.dispose();
    const queue = this.queue;
    while (this.head < queue.length && queue[this.head]!.done) this.head++;
    if (this.head === queue.length) {
      // Empty: reuse the array. The armed timer, if any, will find nothing and stop; until then
      // it must not hold the process, as nobody awaits it.
      queue.length = 0;
      this.head = 0;
      if (this.held) {
        (this.timer as { unref?: () => void } | undefined)?.unref?.();
        this.held = false;
      }
    } else if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }

  private arm(at: number, now: number): void {
    this.timerAt = at;
    // Clamped: `at` is now + timeoutMs in floating point, and for the largest timeout allowed the
    // difference can come back a fraction over it, which Node would fire after 1 ms, warning.
    const timer = setTimeout(this.fire, Math.min(MAX_TIMER_MS, Math.max(0, at - now)));
    // Unref'd unless the loop already ran dry with calls pending (see the class comment).
    if (!this.held) (timer as { unref?: () => void }).unref?.();
    this.timer = timer;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = monotonicNow();
    // Expire in order. An abort listener may start or finish calls of this policy while we
    // loop (finish() may move the head or replace the array): read both afresh each time, and
    // step past an entry before expiring it. New calls have later deadlines, so the loop stops
    // before them.
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (entry.done) {
        this.head++;
        continue;
      }
      if (entry.deadline > now) break;
      this.head++;
      this.expire(entry);
    }
    if (this.head >= this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      return;
    }
    // Calls that never settle (a dependency that swallows requests) never reach finish(): their
    // entries, expired, must go here, or the queue grows by one a call for as long as it lasts.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const at = this.queue[this.head]!.deadline;
    // A call started from an abort listener above may have armed the timer for its own, later, deadline.
    if (this.timer !== undefined && this.timerAt > at) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.timer === undefined) this.arm(at, now);
  };

  private expire(entry: Entry): void {
    // Marked done here: the queue no longer tracks it, whatever the function does later.
    entry.done = true;
    entry.expired = true;
    const error = new TaskTimeoutError(this.timeoutMs);
    entry.reason = error;
    if (this.timeoutEvents.listening) this.timeoutEvents.emit({ timeoutMs: this.timeoutMs });
    entry.controller?.abort(error);
    // The call may never settle, and finish() with it: stop listening to the caller's signal now,
    // or every hung call would leave a listener on a signal the caller keeps.
    entry.listener?.dispose();
    entry.unwatch?.();
    const reject = entry.reject;
    entry.reject = undefined;
    reject?.(error);
  }

  /** Expires nothing: stops the shared timer when no call is pending (for tidy tests). */
  close(): void {
    if (this.timer !== undefined && this.pending === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.held = false;
    }
  }
}

/**
 * Every timeout policy, weakly: at `beforeExit` the ones with calls pending hold the process. A
 * collected policy's entry is removed, so an app that makes a policy per call (in a server, where
 * `beforeExit` never comes) does not grow this set without end.
 */
const policies = new Set<WeakRef<TimeoutPolicy>>();
const forget =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<WeakRef<TimeoutPolicy>>((ref) => policies.delete(ref))
    : undefined;
let watching = false;

function watchLoopRunningDry(policy: TimeoutPolicy): void {
  const proc = (globalThis as { process?: { on?: (event: string, listener: () => void) => unknown } })
    .process;
  // Browsers and workers: a timer holds nothing there, and nothing exits mid-await.
  if (typeof proc?.on !== 'function' || typeof WeakRef !== 'function' || forget === undefined) return;
  const ref = new WeakRef(policy);
  policies.add(ref);
  forget.register(policy, ref);
  if (watching) return;
  watching = true;
  proc.on('beforeExit', () => {
    for (const ref of policies) {
      const p = ref.deref();
      if (p === undefined) policies.delete(ref);
      else p.holdWhilePending();
    }
  });
}

export function timeout(timeoutMs: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(timeoutMs, options);
}
