import { abortReason, CallContext, isAborted, peek } from './CallContext.js';
import { ConfigError, FaultInjectedError, FaultInjectionRefusedError } from './errors.js';
import type { Policy, PolicyContext } from './Policy.js';
import type { Task } from './PolicyBase.js';
import { checkCall, next, NO_CHAIN, PolicyBase } from './PolicyBase.js';
import { watchAbort } from './watchAbort.js';

export interface FaultInjectionOptions {
  /** Delay a share of calls (`rate` in [0, 1]) by `ms`, or by a uniform pick in `[minMs, maxMs]`. */
  readonly latency?: { readonly rate: number; readonly ms: number | readonly [number, number] };
  /** Fail a share of calls without running them, with `error()` (default: a `FaultInjectedError`). */
  readonly errors?: { readonly rate: number; readonly error?: () => unknown };
  /**
   * Drop a share of calls: the call is never run and never settles, like a request lost on the
   * wire, until the caller's signal aborts; then it rejects with the signal's reason, as fetch
   * does. Without a signal (or an enclosing timeout) a dropped call hangs for good: that is
   * the fault being simulated.
   */
  readonly drops?: { readonly rate: number };
  /** Source of randomness in [0, 1); default `Math.random`. Pass a seeded one for repeatable runs. */
  readonly random?: () => number;
  /** Allow creation where `NODE_ENV` is `production`. Default false. */
  readonly force?: boolean;
  /** Where `NODE_ENV` is read; default `globalThis.process?.env` (absent in browsers). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface FaultInjectionStats {
  /** Calls that reached `execute`. */
  readonly calls: number;
  /** Calls delayed, and the total delay injected (ms). */
  readonly delayed: number;
  readonly delayMs: number;
  readonly errors: number;
  readonly drops: number;
  /** Calls that ran the real function (possibly after a delay). */
  readonly passedThrough: number;
}

const KNOWN_OPTIONS = new Set(['latency', 'errors', 'drops', 'random', 'force', 'env']);
// setTimeout fires at once for anything longer; a delay that large is a mistake anyway.
const MAX_DELAY_MS = 2_147_483_647;

/**
 * A policy for tests and drills that makes calls slow, failing or lost at set rates.
 *
 * Each call draws `random()` once for every fault configured, in this order: latency (plus one
 * more draw for the length of a ranged delay), drop, error. A delayed call may then also be
 * dropped or fail. Creating one where `NODE_ENV` is `production` throws
 * `FaultInjectionRefusedError` unless `force: true`.
 */
export class FaultInjectionPolicy extends PolicyBase {
  readonly #latency: { rate: number; min: number; max: number } | undefined;
  readonly #errors: { rate: number; error: (() => unknown) | undefined } | undefined;
  readonly #dropRate: number | undefined;
  readonly #random: () => number;
  #calls = 0;
  #delayed = 0;
  #delayMs = 0;
  #errorCount = 0;
  #drops = 0;
  #passedThrough = 0;

  constructor(options: FaultInjectionOptions = {}) {
    super();
    if (options === null || typeof options !== 'object' || Array.isArray(options))
      throw new ConfigError('options', 'must be an object');
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) throw new ConfigError(key, 'is not a fault-injection option');
    }
    if (options.force !== undefined && typeof options.force !== 'boolean') {
      throw new ConfigError('force', 'must be a boolean');
    }
    if (options.env !== undefined && (options.env === null || typeof options.env !== 'object')) {
      throw new ConfigError('env', 'must be an object of environment variables');
    }
    const env =
      options.env ?? (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
    if (env?.['NODE_ENV'] === 'production' && options.force !== true) throw new FaultInjectionRefusedError();

    if (options.random !== undefined && typeof options.random !== 'function') {
      throw new ConfigError('random', 'must be a function returning a number in [0, 1)');
    }
    this.#random = options.random ?? Math.random;

    if (options.latency !== undefined) {
      const { rate, ms } = checkFault(options.latency, 'latency', ['rate', 'ms']);
      let min: number;
      let max: number;
      if (Array.isArray(ms)) {
        if (ms.length !== 2) throw new ConfigError('latency.ms', 'must be a number or a [minMs, maxMs] pair');
        min = checkDelay(ms[0], 'latency.ms[0]');
        max = checkDelay(ms[1], 'latency.ms[1]');
        if (min > max) throw new ConfigError('latency.ms', `minMs (${min}) is above maxMs (${max})`);
      } else {
        min = max = checkDelay(ms, 'latency.ms');
      }
      this.#latency = { rate, min, max };
    }
    if (options.errors !== undefined) {
      const { rate, error } = checkFault(options.errors, 'errors', ['rate', 'error']);
      if (error !== undefined && typeof error !== 'function') {
        throw new ConfigError('errors.error', 'must be a function that returns the error to throw');
      }
      this.#errors = { rate, error };
    }
    if (options.drops !== undefined) this.#dropRate = checkFault(options.drops, 'drops', ['rate']).rate;
  }

  /** What has been injected so far (a snapshot). */
  get stats(): FaultInjectionStats {
    return {
      calls: this.#calls,
      delayed: this.#delayed,
      delayMs: this.#delayMs,
      errors: this.#errorCount,
      drops: this.#drops,
      passedThrough: this.#passedThrough,
    };
  }

  resetStats(): void {
    this.#calls = this.#delayed = this.#delayMs = this.#errorCount = this.#drops = this.#passedThrough = 0;
  }

  /**
   * Like every policy's, except that a signal already aborted rejects with its reason (as fetch
   * does), and the call is counted.
   */
  override execute<T>(fn: Task<T>, signal?: AbortSignal): Promise<T> {
    const bad = checkCall(fn, signal);
    if (bad !== undefined) return Promise.reject(bad);
    return this.run(fn, new CallContext(undefined, signal, 0, undefined), NO_CHAIN, 0);
  }

  /**
   * @internal The function gets the caller's context as it is: its attempt, and a signal made
   * only if read. Sleeps and drops wait on a signal only when one could ever abort.
   */
  async run<T>(fn: Task<T>, context: PolicyContext, chain: readonly Policy[], index: number): Promise<T> {
    this.#calls++;
    if (isAborted(context)) throw abortReason(context);
    const latency = this.#latency;
    if (latency !== undefined && this.#draw() < latency.rate) {
      const ms =
        latency.min === latency.max ? latency.min : latency.min + this.#draw() * (latency.max - latency.min);
      this.#delayed++;
      this.#delayMs += ms;
      await sleep(ms, peek(context));
      if (isAborted(context)) throw abortReason(context);
    }
    if (this.#dropRate !== undefined && this.#draw() < this.#dropRate) {
      this.#drops++;
      return never(peek(context));
    }
    const errors = this.#errors;
    if (errors !== undefined && this.#draw() < errors.rate) {
      this.#errorCount++;
      throw errors.error === undefined ? new FaultInjectedError() : errors.error();
    }
    this.#passedThrough++;
    return next(fn, context, chain, index);
  }

  #draw(): number {
    const r = this.#random();
    // The option is the app's: a draw outside [0, 1) or NaN would make a delay negative, NaN or
    // past setTimeout's limit (which fires at once, with a TimeoutOverflowWarning).
    return r >= 0 && r < 1 ? r : 0;
  }
}

/** `new FaultInjectionPolicy(options)`. */
export function faultInjection(options: FaultInjectionOptions = {}): FaultInjectionPolicy {
  return new FaultInjectionPolicy(options);
}

function checkFault<T extends { readonly rate: number }>(
  fault: T,
  option: string,
  known: readonly string[],
): T {
  if (fault === null || typeof fault !== 'object')
    throw new ConfigError(option, 'must be an object with a rate');
  // A misspelt key (`errror`) would otherwise be ignored: the default fault instead of the app's.
  for (const key of Object.keys(fault)) {
    if (!known.includes(key))
      throw new ConfigError(`${option}.${key}`, `is not an option of ${option} (${known.join(', ')})`);
  }
  const { rate } = fault;
  if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) {
    throw new ConfigError(`${option}.rate`, `must be a number in [0, 1], got ${String(rate)}`);
  }
  return fault;
}

function checkDelay(ms: unknown, option: string): number {
  if (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_DELAY_MS)) {
    throw new ConfigError(
      option,
      `must be a number of milliseconds in [0, ${MAX_DELAY_MS}], got ${String(ms)}`,
    );
  }
  return ms;
}

/**
 * An abortable sleep. Its timer is deliberately not unref'd: it stands for a request in
 * flight, and a real one holds a socket that keeps the process alive; an unref'd delay would
 * let a script exit in the middle of an awaited call.
 */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      unwatch?.();
      resolve();
    }, ms);
    const unwatch =
      signal === undefined
        ? undefined
        : watchAbort(signal, () => {
            clearTimeout(timer);
            reject(signal.reason);
          });
  });
}

/**
 * A dropped call. While a signal may still end it, a ref'd idle timer holds the process open,
 * as the socket of a real lost request would; without one, a script awaiting a dropped call
 * under an unref'd timeout (such as `AbortSignal.timeout`) would exit mid-await. Without a
 * signal nothing can end it, so nothing is held.
 */
function never<T>(signal: AbortSignal | undefined): Promise<T> {
  return new Promise<T>((_resolve, reject) => {
    if (signal === undefined) return;
    if (signal.aborted) return reject(signal.reason);
    const keepAlive = setInterval(() => {}, MAX_DELAY_MS);
    watchAbort(signal, () => {
      clearInterval(keepAlive);
      reject(signal.reason);
    });
  });
}
