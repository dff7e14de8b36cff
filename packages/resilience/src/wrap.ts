import { ConfigError } from './errors.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { next, PolicyBase } from './PolicyBase.js';

/**
 * Several policies as one. The first is the outermost: `wrap(retry, breaker, timeout)` retries
 * calls that go through the breaker, each attempt under its own timeout.
 */
export class WrapPolicy extends PolicyBase {
  readonly policies: readonly Policy[];

  constructor(policies: readonly Policy[]) {
    super();
    const flat: Policy[] = [];
    policies.forEach((policy, i) => {
      if (policy === null || typeof policy !== 'object' || typeof policy.execute !== 'function') {
        throw new ConfigError(`policies[${i}]`, 'must be a Policy');
      }
      // A wrap inside a wrap is the same chain: flattening keeps one step per policy.
      if (policy instanceof WrapPolicy) flat.push(...policy.policies);
      else flat.push(policy);
    });
    this.policies = flat;
  }

  /** @internal */
  run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    const policies = this.policies;
    // Alone (the usual case), this wrap's own list is the chain. Nested in a foreign chain,
    // run ours, then the rest of theirs.
    try {
      if (index === chain.length) return Promise.resolve(next(fn, context, policies, 0));
      return Promise.resolve(next((inner) => next(fn, inner, chain, index), context, policies, 0));
    } catch (error) {
      // Only with no policies at all can fn throw synchronously up to here.
      return Promise.reject(error);
    }
  }
}

export function wrap(...policies: Policy[]): WrapPolicy {
  return new WrapPolicy(policies);
}
