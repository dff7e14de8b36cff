import { CallContext, peek } from './CallContext.js';
import { ConfigError, TaskCancelledError } from './errors.js';
import { readProperty } from './readProperty.js';
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
    const bad = checkCall(fn, signal);
    if (bad !== undefined) return Promise.reject(bad);
    if (signal !== undefined && signal.aborted) {
      return Promise.reject(new TaskCancelledError(signal.reason));
    }
    return this.run(fn, new CallContext(undefined, signal, 0, undefined), NO_CHAIN, 0);
  }

  /** @internal */
  abstract run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T>;
}

export const NO_CHAIN: readonly Policy[] = [];

/**
 * What is wrong with `execute(fn, signal)`'s arguments, or undefined. A signal that is not one
 * (`null`, an options object such as `{ timeout }`) is refused here, as a rejection: read later,
 * it would throw from a timer or a listener, outside any promise.
 */
export function checkCall(fn: unknown, signal: unknown): Error | undefined {
  if (typeof fn !== 'function') {
    return new ConfigError('fn', `execute(fn) takes a function, got ${fn === null ? 'null' : typeof fn}`);
  }
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  // Duck-typed: a signal from another realm (an iframe, a test DOM) is not an instance of ours.
  if (
    typeof s?.aborted === 'boolean' &&
    typeof s.addEventListener === 'function' &&
    typeof s.removeEventListener === 'function'
  ) {
    return undefined;
  }
  return new ConfigError(
    'signal',
    `execute(fn, signal) takes an AbortSignal or nothing, got ${signal === null ? 'null' : typeof signal}`,
  );
}

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
  // A policy from elsewhere only knows execute(): hand it the signal if one could ever abort,
  // and none otherwise, as a caller without a signal would (it may hold a process for one).
  // What it hands down keeps its signal, and its attempt when it counts one (a retry of its
  // own); else this chain's, which it knows nothing of.
  return policy.execute((inner) => {
    const below = foreignContext(inner, context);
    // Last before the function: the function gets what the foreign policy passed (fields of its
    // own, such as a request id), with the signal and attempt settled here.
    if (index + 1 === chain.length && inner !== null && typeof inner === 'object') {
      return fn({ ...(inner as object), signal: below.signal, attempt: below.attempt });
    }
    return next(fn, below, chain, index + 1);
  }, peek(context));
}

/**
 * The context below a policy from elsewhere: the signal it passes (else the chain's), and the
 * attempt it passes when it counts one (a whole number above 0), else the one from above.
 */
function foreignContext(inner: unknown, outer: PolicyContext): PolicyContext {
  const signal = readProperty(inner, 'signal');
  const own = signal !== undefined && checkCall(noop, signal) === undefined;
  const attempt = readProperty(inner, 'attempt');
  const counted = typeof attempt === 'number' && Number.isSafeInteger(attempt) && attempt > 0;
  return new CallContext(
    undefined,
    own ? (signal as AbortSignal) : peek(outer),
    counted ? attempt : outer.attempt,
    undefined,
  );
}

const noop = (): void => {};
