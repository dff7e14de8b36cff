import { CallContext } from './CallContext.js';
import { TaskCancelledError } from './errors.js';
import type { Policy, PolicyContext } from './Policy.js';

export type Task<T> = (context: PolicyContext) => T | PromiseLike<T>;

/**
 * The base of every policy in this package. `run` is the chain step: a policy does its work
 * around `next(fn, context, chain, index)`, which calls the next policy of a `wrap(...)` or, at
 * the end, the function itself. Passing the chain down instead of building a closure per layer
 * keeps a composed call free of per-call allocations beyond the contexts.
 */
export abstract class PolicyBase implements Policy {
  execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new TypeError('execute(fn): fn must be a function'));
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(new TaskCancelledError(signal.reason));
    }
    return this.run(fn, new CallContext(undefined, signal, 0, undefined), NO_CHAIN, 0);
  }

  /** @internal */
  abstract run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T>;
}

export const NO_CHAIN: readonly Policy[] = [];

/** Runs the rest of the chain from `index`: the next policy, or `fn` when none is left. */
export function next<T>(
  fn: Task<T>,
  context: PolicyContext,
  chain: readonly Policy[],
  index: number,
): T | PromiseLike<T> {
  if (index === chain.length) return fn(context);
  const policy = chain[index]!;
  if (policy instanceof PolicyBase) return policy.run(fn, context, chain, index + 1);
  // A policy from elsewhere only knows execute(): hand it the signal (made now if need be).
  return policy.execute((inner) => next(fn, inner, chain, index + 1), context.signal);
}
