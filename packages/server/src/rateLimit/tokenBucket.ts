export interface TokenBucketOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Most tokens a bucket holds (what may be spent at once). */
  burst: number;
  /** Clock in ms; tests pass their own. */
  now?: () => number;
}

interface Bucket {
  /** Below 0 after a batch larger than the burst: the debt, paid back before anything passes. */
  tokens: number;
  at: number;
}

const ROUNDING_MARGIN = 1e-9;

/** How often, at most, the buckets are swept for full ones, ms (a scan of the map). */
const SWEEP_MS = 60_000;

/**
 * One token bucket per key (a project): refilled lazily from the clock on each call, so
 * nothing runs in the background. Keys are only ever authenticated projects. A bucket that has
 * refilled to the burst is what a missing one starts as, so such buckets are dropped now and
 * then: the map holds the projects that sent lately, not every one that ever sent (a removed
 * project's bucket stayed until restart: removal, `homing projects remove`, often runs in
 * another process and has no way to this map).
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly rate: number;
  private readonly burst: number;
  private readonly now: () => number;
  private sweptAt: number;

  constructor(o: TokenBucketOptions) {
    this.rate = o.ratePerSecond;
    this.burst = o.burst;
    this.now = o.now ?? (() => performance.now());
    this.sweptAt = this.now();
  }

  /** Buckets held: the keys that took tokens and have not refilled to the burst since. */
  get size(): number {
    return this.buckets.size;
  }

  /** Drops the buckets that have refilled to the burst: the same as no bucket. */
  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(key);
    }
  }

  /**
   * Takes `cost` tokens (events; an empty batch costs 1) from `key`'s bucket. Answers 0 when
   * it may pass, otherwise the whole seconds until it may (nothing taken). A cost above the
   * burst passes a full bucket only and leaves it in debt by the difference: it is charged in
   * full, so however requests are sized, no more than `burst + rate × t` events pass in any t
   * seconds before the bucket is paid back. The wait is until the debt is paid and this cost
   * (at most a full bucket) fits, so a client that waits it is let through.
   */
  take(key: string, cost: number): number {
    const now = this.now();
    if (now - this.sweptAt >= SWEEP_MS) this.sweep(now);
    const charge = Math.max(cost, 1);
    const need = Math.min(charge, this.burst);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.rate);
      b.at = now;
    }
    // The margin absorbs the rounding of the refill, so a client that waited the seconds
    // answered is not refused again for a billionth of an event.
    if (b.tokens >= need - ROUNDING_MARGIN) {
      b.tokens -= charge;
      return 0;
    }
    // The same margin here: a refill that rounded a hair short (4.99999999999995 tokens for 5)
    // made a 1 s wait read as 2, and a client that came back after 1 s was let through.
    return Math.max(1, Math.ceil((need - b.tokens - ROUNDING_MARGIN) / this.rate));
  }

  /**
   * Gives back what `take(key, cost)` charged, for a request that stored nothing because the
   * store failed: the client was told to retry, and its retry must not find the bucket spent
   * by an attempt the server itself failed.
   */
  giveBack(key: string, cost: number): void {
    const b = this.buckets.get(key);
    if (b === undefined) return;
    b.tokens = Math.min(this.burst, b.tokens + Math.max(cost, 1));
  }
}
