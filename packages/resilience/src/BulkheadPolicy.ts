import { abortReason, isAborted, peek } from './CallContext.js';
import { BulkheadRejectedError, TaskCancelledError } from './errors.js';
import type { EventSubscriber } from './events.js';
import { Emitter } from './events.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';
import { checkInteger, checkKnown, checkObject } from './validate.js';
import { watchAbort } from './watchAbort.js';

export interface BulkheadOptions {
  /** Calls running at once. */
  readonly maxConcurrent: number;
  /** Calls waiting for a slot; beyond it calls are rejected. `Infinity`: no bound. Default 0. */
  readonly maxQueue?: number;
}

export interface BulkheadRejectEvent {
  readonly executing: number;
  readonly queued: number;
}

interface Waiter {
  readonly resolve: () => void;
  /** Stops watching the caller's signal; undefined when there is none to watch. */
  unwatch: (() => void) | undefined;
  prev: Waiter | undefined;
  next: Waiter | undefined;
}

/**
 * The FIFO of waiting calls, a doubly linked list: taking the first and taking one out when its
 * signal aborts are both O(1). An array's shift() and indexOf/splice made draining a long queue,
 * and a shared signal aborting every call in it, quadratic.
 */
class WaitQueue {
  size = 0;
  private head: Waiter | undefined = undefined;
  private tail: Waiter | undefined = undefined;

  push(waiter: Waiter): void {
    waiter.prev = this.tail;
    if (this.tail === undefined) this.head = waiter;
    else this.tail.next = waiter;
    this.tail = waiter;
    this.size++;
  }

  shift(): Waiter | undefined {
    const waiter = this.head;
    if (waiter !== undefined) this.remove(waiter);
    return waiter;
  }

  remove(waiter: Waiter): void {
    if (waiter.prev === undefined) {
      // Neither first nor linked after another: not queued (already taken out).
      if (this.head !== waiter) return;
      this.head = waiter.next;
    } else waiter.prev.next = waiter.next;
    if (waiter.next === undefined) this.tail = waiter.prev;
    else waiter.next.prev = waiter.prev;
    waiter.prev = waiter.next = undefined;
    this.size--;
  }
}

/**
 * Limits concurrency. A call beyond `maxConcurrent` waits in a FIFO of at most `maxQueue`
 * (its caller's signal takes it out at once), beyond that it is rejected with a
 * BulkheadRejectedError, which a circuit breaker does not count as a failure.
 */
export class BulkheadPolicy extends PolicyBase {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  private running = 0;
  private readonly waiting = new WaitQueue();
  private readonly rejectEvents = new Emitter<BulkheadRejectEvent>();

  readonly onReject: EventSubscriber<BulkheadRejectEvent> = this.rejectEvents.subscribe;

  constructor(options: BulkheadOptions) {
    super();
    checkObject('bulkhead options', options);
    checkKnown('bulkhead', options, ['maxConcurrent', 'maxQueue']);
    this.maxConcurrent = checkInteger('maxConcurrent', options.maxConcurrent, 1);
    this.maxQueue =
      options.maxQueue === Infinity ? Infinity : checkInteger('maxQueue', options.maxQueue ?? 0, 0);
  }

  get executing(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** @internal */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    // A queued call is handed the slot of the call that finishes (running stays the same), so a
    // call arriving in between cannot take it and push the count over maxConcurrent.
    if (this.running >= this.maxConcurrent) {
      await this.wait(context);
      // Aborted between being handed the slot and this turn: the call must not run.
      if (isAborted(context)) {
        this.release();
        throw new TaskCancelledError(abortReason(context));
      }
    } else this.running++;
    try {
      return await next(fn, context, chain, index);
    } finally {
      this.release();
    }
  }

  /** Hands a finished call's slot to the first call queued, or frees it. */
  private release(): void {
    const waiter = this.waiting.shift();
    if (waiter !== undefined) {
      waiter.unwatch?.();
      waiter.resolve();
    } else this.running--;
  }

  private wait(context: PolicyContext): Promise<void> {
    if (this.waiting.size >= this.maxQueue) {
      if (this.rejectEvents.listening) {
        this.rejectEvents.emit({ executing: this.running, queued: this.waiting.size });
      }
      return Promise.reject(new BulkheadRejectedError(this.maxConcurrent, this.maxQueue));
    }
    // peek, not context.signal: without a caller's signal or an enclosing timeout nothing can
    // take the call out of the queue, and reading the signal would make one (an AbortController
    // and a watch) per queued call for nothing.
    const signal = peek(context);
    if (signal?.aborted) return Promise.reject(new TaskCancelledError(signal.reason));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, unwatch: undefined, prev: undefined, next: undefined };
      if (signal !== undefined) {
        waiter.unwatch = watchAbort(signal, () => {
          this.waiting.remove(waiter);
          reject(new TaskCancelledError(signal.reason));
        });
      }
      this.waiting.push(waiter);
    });
  }
}

export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
