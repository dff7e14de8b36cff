import { ConfigError } from './errors.js';
import { checkDelay, checkFunction, checkKnown, checkObject } from './validate.js';

/**
 * A backoff strategy. `start()` begins one sequence of delays (one retried call, or one run of
 * a breaker's repeated openings); each `next()` gives the delay in ms before the next attempt.
 * Sequences hold the state that decorrelated jitter needs, so a strategy is shared safely.
 */
export interface Backoff {
  start(): BackoffSequence;
}

export interface BackoffSequence {
  next(): number;
}

/** Always `ms`. */
export function constantBackoff(ms: number): Backoff {
  const delay = checkDelay('ms', ms);
  const sequence: BackoffSequence = { next: () => delay };
  return { start: () => sequence };
}

export interface LinearBackoffOptions {
  /** First delay. Default 100 ms. */
  readonly initialMs?: number;
  /** Added for each further attempt. Default 100 ms. */
  readonly stepMs?: number;
  /** Cap. Default 30 000 ms. */
  readonly maxMs?: number;
}

/** initialMs, initialMs + stepMs, initialMs + 2·stepMs, ... capped at maxMs. */
export function linearBackoff(options: LinearBackoffOptions = {}): Backoff {
  checkObject('linearBackoff options', options);
  checkKnown('linearBackoff', options, ['initialMs', 'stepMs', 'maxMs']);
  const initialMs = checkDelay('initialMs', options.initialMs ?? 100);
  const stepMs = checkDelay('stepMs', options.stepMs ?? 100);
  const maxMs = checkDelay('maxMs', options.maxMs ?? 30_000);
  return {
    start() {
      let n = 0;
      return { next: () => Math.min(maxMs, initialMs + stepMs * n++) };
    },
  };
}

export type Jitter = 'none' | 'full' | 'decorrelated';

export interface ExponentialBackoffOptions {
  /** First delay (for decorrelated jitter: the scale of the first delay, whose median is about 0.9 × this). Default 100 ms. */
  readonly initialMs?: number;
  /**
   * Growth per attempt, >= 1. Default 2. Shapes `none` and `full` jitter; decorrelated jitter
   * follows its own curve, which doubles, so any other factor given with it is refused.
   */
  readonly factor?: number;
  /** Cap on every delay. Default 30 000 ms. */
  readonly maxMs?: number;
  /**
   * - `none`: initialMs · factor^n, capped.
   * - `full`: a uniform pick in [0, that] (AWS "full jitter").
   * - `decorrelated`: Polly V2's formula, spread but never clustered at 0. Default.
   */
  readonly jitter?: Jitter;
  /** Randomness in [0, 1); default Math.random. */
  readonly random?: () => number;
}

// Polly V2 (Polly.Contrib.WaitAndRetry DecorrelatedJitterBackoffV2) constants.
const P_FACTOR = 4;
const RP_SCALING = 1 / 1.4;

export function exponentialBackoff(options: ExponentialBackoffOptions = {}): Backoff {
  checkObject('exponentialBackoff options', options);
  checkKnown('exponentialBackoff', options, ['initialMs', 'factor', 'maxMs', 'jitter', 'random']);
  const initialMs = checkDelay('initialMs', options.initialMs ?? 100);
  const maxMs = checkDelay('maxMs', options.maxMs ?? 30_000);
  const factor = options.factor ?? 2;
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) {
    throw new ConfigError('factor', 'must be a finite number >= 1');
  }
  const jitter = options.jitter ?? 'decorrelated';
  if (jitter !== 'none' && jitter !== 'full' && jitter !== 'decorrelated') {
    throw new ConfigError('jitter', "must be 'none', 'full' or 'decorrelated'");
  }
  // Validated, then ignored, a factor would leave an app that asked for gentle growth
  // doubling its delays without a word.
  if (jitter === 'decorrelated' && factor !== 2) {
    throw new ConfigError(
      'factor',
      `has no effect with jitter 'decorrelated', whose curve doubles; use jitter 'full' or 'none' for a factor of ${factor}`,
    );
  }
  const random = checkFunction<() => number>('random', options.random ?? Math.random);
  const draw = (): number => {
    const r = random();
    // A broken random source must not make a delay negative, NaN or above the cap.
    return r >= 0 && r < 1 ? r : 0;
  };
  // 0 stays 0 however many attempts: past ~1000, 0 · factor^n is 0 · Infinity, NaN, which the
  // overflow guards below would read as "past the cap".
  if (initialMs === 0) return { start: () => ({ next: () => 0 }) };
  const plain = (n: number): number => {
    const d = initialMs * factor ** n;
    return Number.isFinite(d) ? Math.min(maxMs, d) : maxMs;
  };
  if (jitter === 'none') {
    return {
      start() {
        let n = 0;
        return { next: () => plain(n++) };
      },
    };
  }
  if (jitter === 'full') {
    return {
      start() {
        let n = 0;
        return { next: () => draw() * plain(n++) };
      },
    };
  }
  return {
    start() {
      let n = 0;
      let prev = 0;
      return {
        next() {
          const t = n++ + draw();
          const next = 2 ** t * Math.tanh(Math.sqrt(P_FACTOR * t));
          const delay = (next - prev) * RP_SCALING * initialMs;
          prev = next;
          // Past ~1000 attempts 2^t overflows: Infinity − Infinity is NaN. The cap is the answer.
          return Number.isFinite(delay) && delay >= 0 ? Math.min(maxMs, delay) : maxMs;
        },
      };
    },
  };
}

/** True for anything shaped like a Backoff. */
export function isBackoff(value: unknown): value is Backoff {
  return value !== null && typeof value === 'object' && typeof (value as Backoff).start === 'function';
}
