import type { EventSubscriber } from './events.js';
import { ConfigError, FallbackPredicateError } from './errors.js';
import { Emitter } from './events.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';
import { checkFunction, checkKnown, checkObject } from './validate.js';

export interface FallbackOptions {
  /** Which errors fall back. Default: every error. */
  readonly handles?: (error: unknown) => boolean;
}

export interface FallbackEvent {
  readonly error: unknown;
}

/**
 * Answers with a fallback when the call fails with an error `handles` accepts: the value
 * itself, or, when it is a function, what it returns for the error (to fall back to a function
 * value, return it from a function). Other errors pass through untouched.
 */
export class FallbackPolicy<R> extends PolicyBase {
  private readonly value: R | ((error: unknown) => R | PromiseLike<R>);
  private readonly handles: ((error: unknown) => boolean) | undefined;
  private readonly fallbackEvents = new Emitter<FallbackEvent>();

  readonly onFallback: EventSubscriber<FallbackEvent> = this.fallbackEvents.subscribe;

  constructor(value: R | ((error: unknown) => R | PromiseLike<R>), options: FallbackOptions = {}) {
    super();
    checkValueGiven(arguments.length);
    checkObject('fallback options', options);
    checkKnown('fallback', options, ['handles']);
    this.value = value;
    this.handles = options.handles === undefined ? undefined : checkFunction('handles', options.handles);
  }

  private decide(handles: (error: unknown) => boolean, error: unknown): boolean {
    try {
      return handles(error);
    } catch (predicateError) {
      throw new FallbackPredicateError(predicateError, { cause: error });
    }
  }

  /** @internal */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    try {
      return await next(fn, context, chain, index);
    } catch (error) {
      if (this.handles !== undefined && !this.decide(this.handles, error)) throw error;
      this.fallbackEvents.emit({ error });
      const value = this.value;
      return (typeof value === 'function'
        ? await (value as (e: unknown) => R)(error)
        : value) as unknown as T;
    }
  }
}

/**
 * `fallback()` with no argument: a forgotten value, not a wish to answer with `undefined`
 * (which `fallback(undefined)` still says).
 */
function checkValueGiven(count: number): void {
  if (count === 0) {
    throw new ConfigError(
      'value',
      'fallback(value) needs the value (or a function of the error) to answer with; pass undefined to answer with nothing',
    );
  }
}

export function fallback<R>(
  value: R | ((error: unknown) => R | PromiseLike<R>),
  options?: FallbackOptions,
): FallbackPolicy<R> {
  checkValueGiven(arguments.length);
  return new FallbackPolicy(value, options);
}
