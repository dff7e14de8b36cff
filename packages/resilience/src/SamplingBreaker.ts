import type { Breaker } from './Breaker.js';
import { ConfigError } from './errors.js';
import { checkDelay, checkInteger, checkKnown, checkObject } from './validate.js';

export interface SamplingBreakerOptions {
  /** Failure rate in (0, 1] at which the circuit opens. */
  readonly threshold: number;
  /** Length of the rolling window, ms. */
  readonly windowMs: number;
  /** Fewest calls in the window before the rate counts. Default 20. */
  readonly minimumThroughput?: number;
  /** Buckets the window is cut into. Default 10. */
  readonly buckets?: number;
  /** Clock, ms since the epoch. Default Date.now. */
  readonly now?: () => number;
}

/**
 * Opens when the failure rate over a rolling window reaches `threshold`, once at least
 * `minimumThroughput` calls were seen in it. The window is a ring of bucket counters with
 * running totals: recording is O(1), and moving on clears only the buckets that went stale,
 * all of them after an idle spell longer than the window (cockatiel kept counting them).
 */
export class SamplingBreaker implements Breaker {
  readonly threshold: number;
  readonly windowMs: number;
  readonly minimumThroughput: number;
  readonly buckets: number;
  private readonly bucketMs: number;
  private readonly now: () => number;
  private readonly successes: Float64Array;
  private readonly failures: Float64Array;
  private totalSuccesses = 0;
  private totalFailures = 0;
  private current = 0;
  /** Wall-clock start of the current bucket. */
  private currentStart: number;

  constructor(options: SamplingBreakerOptions) {
    checkObject('SamplingBreaker options', options);
    checkKnown('SamplingBreaker', options, ['threshold', 'windowMs', 'minimumThroughput', 'buckets', 'now']);
    const threshold = options.threshold;
    if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1)) {
      throw new ConfigError('threshold', 'must be a failure rate in (0, 1]');
    }
    this.threshold = threshold;
    this.windowMs = checkDelay('windowMs', options.windowMs);
    this.minimumThroughput = checkInteger('minimumThroughput', options.minimumThroughput ?? 20, 1);
    this.buckets = checkInteger('buckets', options.buckets ?? 10, 1);
    if (this.buckets > 10_000) throw new ConfigError('buckets', 'must be at most 10000');
    if (this.windowMs < this.buckets) throw new ConfigError('windowMs', 'must be at least 1 ms per bucket');
    this.bucketMs = this.windowMs / this.buckets;
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new ConfigError('now', 'must be a function');
    }
    this.now = options.now ?? Date.now;
    this.successes = new Float64Array(this.buckets);
    this.failures = new Float64Array(this.buckets);
    this.currentStart = finiteOr(this.now(), Date.now());
  }

  /** Calls and failures inside the window now. */
  get counts(): { calls: number; failures: number } {
    this.rotate(this.now());
    return { calls: this.totalSuccesses + this.totalFailures, failures: this.totalFailures };
  }

  success(): void {
    this.rotate(this.now());
    this.successes[this.current]!++;
    this.totalSuccesses++;
  }

  failure(): boolean {
    this.rotate(this.now());
    this.failures[this.current]!++;
    this.totalFailures++;
    const calls = this.totalSuccesses + this.totalFailures;
    return calls >= this.minimumThroughput && this.totalFailures / calls >= this.threshold;
  }

  reset(): void {
    this.successes.fill(0);
    this.failures.fill(0);
    this.totalSuccesses = 0;
    this.totalFailures = 0;
    this.current = 0;
    this.currentStart = finiteOr(this.now(), this.currentStart);
  }

  private rotate(now: number): void {
    // A NaN or infinite reading would become the window's start for good (NaN never ages out,
    // and toJSON() would save a state restore() refuses): it is skipped, the window kept as is.
    if (!Number.isFinite(now)) return;
    const elapsed = now - this.currentStart;
    if (elapsed < this.bucketMs) {
      // A clock stepped backwards: start the current bucket again rather than never rotating.
      if (elapsed < 0) this.currentStart = now;
      return;
    }
    const steps = Math.floor(elapsed / this.bucketMs);
    if (steps >= this.buckets) {
      this.successes.fill(0);
      this.failures.fill(0);
      this.totalSuccesses = 0;
      this.totalFailures = 0;
      this.current = 0;
      this.currentStart = now;
      return;
    }
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % this.buckets;
      this.totalSuccesses -= this.successes[this.current]!;
      this.totalFailures -= this.failures[this.current]!;
      this.successes[this.current] = 0;
      this.failures[this.current] = 0;
    }
    this.currentStart += steps * this.bucketMs;
  }

  toJSON(): {
    kind: 'sampling';
    current: number;
    currentStart: number;
    successes: number[];
    failures: number[];
  } {
    return {
      kind: 'sampling',
      current: this.current,
      currentStart: this.currentStart,
      successes: Array.from(this.successes),
      failures: Array.from(this.failures),
    };
  }

  restore(state: unknown, option: string): void {
    const s = state as Partial<ReturnType<SamplingBreaker['toJSON']>> | null;
    if (s === null || typeof s !== 'object' || s.kind !== 'sampling') {
      throw new ConfigError(option, 'is not the state of a SamplingBreaker');
    }
    const counts = (name: 'successes' | 'failures'): number[] => {
      const v = s[name];
      if (!Array.isArray(v) || v.length !== this.buckets || !v.every((n) => Number.isInteger(n) && n >= 0)) {
        throw new ConfigError(`${option}.${name}`, `must be ${this.buckets} integers >= 0`);
      }
      return v;
    };
    const successes = counts('successes');
    const failures = counts('failures');
    if (!Number.isInteger(s.current) || s.current! < 0 || s.current! >= this.buckets) {
      throw new ConfigError(`${option}.current`, 'must be a bucket index');
    }
    if (typeof s.currentStart !== 'number' || !Number.isFinite(s.currentStart)) {
      throw new ConfigError(`${option}.currentStart`, 'must be a time in ms since the epoch');
    }
    this.successes.set(successes);
    this.failures.set(failures);
    this.totalSuccesses = successes.reduce((a, b) => a + b, 0);
    this.totalFailures = failures.reduce((a, b) => a + b, 0);
    this.current = s.current!;
    this.currentStart = s.currentStart;
    // A window saved long ago is stale now: rotate drops what the idle time outlived.
    this.rotate(this.now());
  }
}

function finiteOr(reading: number, fallback: number): number {
  return Number.isFinite(reading) ? reading : fallback;
}
