import type { PolicyContext } from './Policy.js';
import { watchAbort } from './watchAbort.js';

/**
 * What a timeout policy registers per call: when it expires, the context's signal (if anyone
 * made one) is aborted with `reason`.
 */
export interface Deadline {
  expired: boolean;
  controller: AbortController | undefined;
  reason: unknown;
  /**
   * The context whose signal listens to an outer signal for this deadline, until disposed: at
   * expiry the timeout disposes it, as a call it stops waiting for may never settle.
   */
  listener: CallContext | undefined;
}

/**
 * The context handed down a chain of policies. Its `signal` is made on first read only: a
 * function that never reads it costs no AbortController and no listener. One class for every
 * layer (root, attempt, timeout) keeps property access monomorphic on the hot path.
 */
export class CallContext implements PolicyContext {
  private own: AbortSignal | undefined = undefined;
  /** Stops watching the outer signal this context's signal follows. */
  private unwatch: (() => void) | undefined = undefined;
  /** The timeout this context bounds is over (settled or expired): nothing may watch for it now. */
  private disposed = false;

  constructor(
    /** The enclosing context; undefined at the root. */
    readonly parent: PolicyContext | undefined,
    /** At the root: the caller's signal, if any. */
    private readonly caller: AbortSignal | undefined,
    readonly attempt: number,
    /** Set when this context is a timeout's boundary. */
    private readonly deadline: Deadline | undefined,
  ) {}

  get signal(): AbortSignal {
    if (this.own !== undefined) return this.own;
    if (this.deadline === undefined) {
      if (this.parent !== undefined) return (this.own = this.parent.signal);
      if (this.caller !== undefined) return (this.own = this.caller);
      return (this.own = new AbortController().signal);
    }
    const controller = new AbortController();
    this.own = controller.signal;
    const deadline = this.deadline;
    if (deadline.expired) {
      controller.abort(deadline.reason);
      return this.own;
    }
    // Without a caller's signal or an enclosing timeout nothing could abort from outside:
    // peek() then makes no signal up there just to listen to it.
    const outer = this.parent === undefined ? this.caller : peek(this.parent);
    if (this.disposed) {
      // Read first after the call settled (work it left running): a watch on the outer signal
      // would never be removed, one leaked per call on an app-lifetime signal. The signal tells
      // what is known now and aborts no later, as the timeout's own would once it was disposed.
      if (outer?.aborted === true) controller.abort(outer.reason);
      return this.own;
    }
    deadline.controller = controller;
    if (outer !== undefined) {
      if (outer.aborted) controller.abort(outer.reason);
      else {
        this.unwatch = watchAbort(outer, () => controller.abort(outer.reason));
        deadline.listener = this;
      }
    }
    return this.own;
  }

  /** The signal if one exists or could ever abort, without making one that never can. */
  peek(): AbortSignal | undefined {
    if (this.own !== undefined || this.deadline !== undefined) return this.signal;
    if (this.parent !== undefined) return peek(this.parent);
    return this.caller;
  }

  /** Aborted, without making a signal when none exists yet. */
  get aborted(): boolean {
    if (this.own !== undefined) return this.own.aborted;
    if (this.deadline?.expired) return true;
    if (this.parent !== undefined) return isAborted(this.parent);
    return this.caller?.aborted ?? false;
  }

  /** The reason of whatever aborted this context. */
  get reason(): unknown {
    if (this.own !== undefined) return this.own.reason;
    if (this.deadline?.expired) return this.deadline.reason;
    if (this.parent !== undefined) return this.parent.signal.reason;
    return this.caller?.reason;
  }

  /** Stops following the parent's signal. */
  dispose(): void {
    this.disposed = true;
    if (this.unwatch !== undefined) {
      this.unwatch();
      this.unwatch = undefined;
    }
    if (this.deadline !== undefined) {
      this.deadline.controller = undefined;
      this.deadline.listener = undefined;
    }
  }
}

export function isAborted(context: PolicyContext): boolean {
  return context instanceof CallContext ? context.aborted : context.signal.aborted;
}

export function abortReason(context: PolicyContext): unknown {
  return context instanceof CallContext ? context.reason : context.signal.reason;
}

/**
 * The context's signal if one exists or could ever abort; undefined when nothing could abort it
 * (no caller's signal, no enclosing timeout), so that no signal, and nothing that waits on one,
 * is made for it.
 */
export function peek(context: PolicyContext): AbortSignal | undefined {
  return context instanceof CallContext ? context.peek() : context.signal;
}
