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
  /** Calls waiting for a slot; beyond it calls are rejected. Default 0. */
  readonly maxQueue?: number;
}

export interface BulkheadRejectEvent {
  readonly executing: number;
  readonly queued: number;
}

interface Waiter {
  start: () => void;
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
  private readonly waiting: Waiter[] = [];
  private readonly rejectEvents = new Emitter<BulkheadRejectEvent>();

  readonly onReject: EventSubscriber<BulkheadRejectEvent> = this.rejectEvents.subscribe;

  constructor(options: BulkheadOptions) {
    super();
    checkObject('bulkhead options', options);
    checkKnown('bulkhead', options, ['maxConcurrent', 'maxQueue']);
    this.maxConcurrent = checkInteger('maxConcurrent', options.maxConcurrent, 1);
    this.maxQueue = checkInteger('maxQueue', options.maxQueue ?? 0, 0);
  }

  get executing(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** @internal */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    // A queued call is handed the slot of the call that finishes (running stays the same), so a
    // call arriving in between cannot take it and push the count over maxConcurrent.
    if (this.running >= this.maxConcurrent) await this.wait(context);
    else this.running++;
    try {
      return await next(fn, context, chain, index);
    } finally {
      const waiter = this.waiting.shift();
      if (waiter !== undefined) waiter.start();
      else this.running--;
    }
  }

  private wait(context: PolicyContext): Promise<void> {
    if (this.waiting.length >= this.maxQueue) {
      if (this.rejectEvents.listening) {
        this.rejectEvents.emit({ executing: this.running, queued: this.waiting.length });
      }
      return Promise.reject(new BulkheadRejectedError(this.maxConcurrent, this.maxQueue));
    }
    const signal = context.signal;
    if (signal.aborted) return Promise.reject(new TaskCancelledError(signal.reason));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          unwatch();
          resolve();
        },
      };
      const unwatch = watchAbort(signal, () => {
        const at = this.waiting.indexOf(waiter);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new TaskCancelledError(signal.reason));
      });
      this.waiting.push(waiter);
    });
  }
}

export function bulkhead(options: BulkheadOptions): BulkheadPolicy {
  return new BulkheadPolicy(options);
}
