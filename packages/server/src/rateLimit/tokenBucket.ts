export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Most tokens a bucket holds (what may be spent at once). */
  burst: number;
  /** Clock in ms; tests pass their own. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key (a project): refilled lazily from the clock on each call, so
 * nothing runs in the background. Keys are only ever authenticated projects, so the map is
 * as large as the number of projects sending.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(o: TokenBucketOptions) {
    this.rate = o.ratePerSecond;
    this.burst = o.burst;
    this.now = o.now ?? (() => performance.now());
  }

  /**
   * Takes `cost` tokens from `key`'s bucket. Answers 0 when they were there, otherwise the
   * seconds until they will be (nothing taken). A cost above the burst is charged as the
   * burst, so one large batch can pass a full bucket instead of never passing.
   */
  take(key: string, cost: number): number {
    const now = this.now();
    const need = Math.min(Math.max(cost, 1), this.burst);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    if (b.tokens >= need) {
      b.tokens -= need;
      return 0;
    }
    return Math.max(1, Math.ceil((need - b.tokens) / this.rate));
  }

  /**
   * Gives back what `take(key, cost)` charged, for a request that stored nothing because the
   * store failed: the client was told to retry, and its retry must not find the bucket spent
   * by an attempt the server itself failed.
   */
  giveBack(key: string, cost: number): void {
    const b = this.buckets.get(key);
    if (b === undefined) return;
    b.tokens = Math.min(this.burst, b.tokens + Math.min(Math.max(cost, 1), this.burst));
  }
}
