/**
 * A log-linear bucket histogram (the HDR / DDSketch family) for non-negative numbers.
 *
 * A value's bucket is read straight from its IEEE 754 bits: the 11 exponent bits and the top
 * SUB_BITS mantissa bits. Each power of two is split into 64 equal sub-buckets, so a bucket is
 * at most 1/64 of its lower bound wide, and the value reported for it (its midpoint, clamped to
 * the observed min and max) is within 1/128 (0.79 %) of every value in it: that is the relative
 * error bound of every quantile, as long as no bucket below it was collapsed (see `maxBins`).
 *
 * Counts live in one Float64Array window that covers the buckets seen so far and grows an
 * octave at a time. When the window would pass `maxBins`, the lowest buckets are folded into
 * the lowest kept one: high percentiles (what latency work needs) stay exact to the bound,
 * the low end loses resolution, and memory never exceeds `maxBins * 8` bytes of counts.
 *
 * Two histograms always merge (same bucket layout everywhere), including across processes
 * through `toSparse()` / `fromSparse()`.
 */
export const SUB_BITS = 6;
const SUB_COUNT = 1 << SUB_BITS;
/** Bits of the high 32-bit word below the sub-bucket bits. */
const SHIFT = 20 - SUB_BITS;
/** The relative error bound of a reported quantile: half a bucket's relative width. */
export const RELATIVE_ERROR = 1 / (2 * SUB_COUNT);
/** Largest key: exponent 0x7fe (largest finite) with all sub-bucket bits set. */
const MAX_KEY = (0x7fe << SUB_BITS) | (SUB_COUNT - 1);
const GROW_STEP = SUB_COUNT;

// Scratch views for reading a double's bits without allocating.
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

/** The bucket key of a positive finite number. */
export function bucketKey(value: number): number {
  scratch[0] = value;
  return words[HI]! >>> SHIFT;
}

/** The smallest value of a bucket. */
export function bucketLowerBound(key: number): number {
  words[HI] = key << SHIFT;
  words[LO] = 0;
  return scratch[0]!;
}

export interface HistogramSummary {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p95: number | null;
  p99: number | null;
}

/** A histogram as plain JSON: `bins` is [key, count] pairs of the non-empty buckets. */
export interface SparseHistogram {
  count: number;
  sum: number;
  min: number | null;
  max: number | null;
  zeros: number;
  bins: [number, number][];
}

/** Fixed object overhead counted in `bytes()`: fields, the typed array header. */
const OBJECT_BYTES = 160;

export class LogLinearHistogram {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  zeros = 0;
  /** Key of counts[0]. */
  #offset = 0;
  #counts: Float64Array = new Float64Array(0);
  /** Keys below this were folded into it; 0 while nothing was collapsed. */
  #floor = 0;
  readonly #maxBins: number;

  /** `maxBins`: the most buckets kept (>= 64); each costs 8 bytes. */
  constructor(maxBins = 1024) {
    this.#maxBins = maxBins;
  }

  /**
   * Adds a value. The caller guarantees a finite number >= 0 (the trackers validate once at
   * their edge, so this stays a few arithmetic operations and no allocation).
   */
  record(value: number): void {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (value === 0) {
      this.zeros++;
      return;
    }
    scratch[0] = value;
    const index = (words[HI]! >>> SHIFT) - this.#offset;
    if (index >= 0 && index < this.#counts.length) {
      this.#counts[index]!++;
      return;
    }
    this.#addSlow(bucketKey(value), 1);
  }

  /** True when low buckets were folded together: quantiles below `collapsedBelow` are coarse. */
  get collapsed(): boolean {
    return this.#floor > 0;
  }

  /** Values below this were folded into one bucket; 0 when none were. */
  get collapsedBelow(): number {
    return this.#floor > 0 ? bucketLowerBound(this.#floor) : 0;
  }

  /** Bytes held: the counts window and a fixed estimate of the object itself. */
  bytes(): number {
    return OBJECT_BYTES + this.#counts.byteLength;
  }

  /** Empties the histogram; the counts window is kept (and zeroed) for the next interval. */
  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.min = Number.POSITIVE_INFINITY;
    this.max = Number.NEGATIVE_INFINITY;
    this.zeros = 0;
    this.#floor = 0;
    this.#counts.fill(0);
  }

  /** Adds every value of `other` into this one. */
  merge(other: LogLinearHistogram): void {
    if (other.count === 0) return;
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.zeros += other.zeros;
    other.#forEachBin((key, n) => this.#add(key, n));
  }

  /**
   * The value at quantile q (0..1) by nearest rank: the ceil(q * count)-th smallest value,
   * within RELATIVE_ERROR of it. null when empty or q is out of range.
   */
  quantile(q: number): number | null {
    if (this.count === 0 || !(q >= 0 && q <= 1)) return null;
    return this.#quantiles([q])[0]!;
  }

  summary(): HistogramSummary {
    if (this.count === 0) {
      return {
        count: 0,
        sum: 0,
        min: null,
        max: null,
        mean: null,
        p50: null,
        p90: null,
        p95: null,
        p99: null,
      };
    }
    const [p50, p90, p95, p99] = this.#quantiles([0.5, 0.9, 0.95, 0.99]);
    return {
      count: this.count,
      sum: this.sum,
      min: this.min,
      max: this.max,
      mean: this.sum / this.count,
      p50: p50!,
      p90: p90!,
      p95: p95!,
      p99: p99!,
    };
  }

  toSparse(): SparseHistogram {
    const bins: [number, number][] = [];
    this.#forEachBin((key, n) => bins.push([key, n]));
    return {
      count: this.count,
      sum: this.sum,
      min: this.count === 0 ? null : this.min,
      max: this.count === 0 ? null : this.max,
      zeros: this.zeros,
      bins,
    };
  }

  /** Rebuilds a histogram from `toSparse()` output; throws a TypeError on a malformed one. */
  static fromSparse(data: SparseHistogram, maxBins = 1024): LogLinearHistogram {
    const h = new LogLinearHistogram(maxBins);
    if (data === null || typeof data !== 'object' || !Array.isArray(data.bins)) {
      throw new TypeError('a sparse histogram needs a bins array');
    }
    let total = nonNegative(data.zeros, 'zeros');
    for (const bin of data.bins) {
      if (!Array.isArray(bin) || bin.length !== 2) throw new TypeError('each bin is [key, count]');
      const [key, n] = bin;
      if (!Number.isInteger(key) || key < 0 || key > MAX_KEY)
        throw new TypeError(`bad bin key ${String(key)}`);
      total += nonNegative(n, 'bin count');
      if (n > 0) h.#add(key, n);
    }
    if (total !== data.count) throw new TypeError('bin counts do not add up to count');
    h.count = total;
    h.zeros = data.zeros;
    h.sum = typeof data.sum === 'number' && Number.isFinite(data.sum) ? data.sum : 0;
    if (total > 0) {
      if (typeof data.min !== 'number' || typeof data.max !== 'number' || !(data.min <= data.max)) {
        throw new TypeError('min and max must be numbers with min <= max');
      }
      h.min = data.min;
      h.max = data.max;
    }
    return h;
  }

  #quantiles(qs: readonly number[]): number[] {
    // Nearest rank, 1-based; qs ascending, answered in one walk.
    const out: number[] = [];
    let i = 0;
    let seen = this.zeros;
    const rankOf = (q: number): number => Math.max(1, Math.ceil(q * this.count));
    while (i < qs.length && rankOf(qs[i]!) <= seen) {
      out.push(0);
      i++;
    }
    const counts = this.#counts;
    for (let b = 0; b < counts.length && i < qs.length; b++) {
      const n = counts[b]!;
      if (n === 0) continue;
      seen += n;
      while (i < qs.length && rankOf(qs[i]!) <= seen) {
        out.push(this.#representative(this.#offset + b));
        i++;
      }
    }
    while (i < qs.length) {
      out.push(this.max);
      i++;
    }
    return out;
  }

  #representative(key: number): number {
    const lower = key === this.#floor && this.#floor > 0 ? this.min : bucketLowerBound(key);
    const upper = bucketLowerBound(key + 1);
    const mid = lower + (upper - lower) / 2;
    return Math.min(this.max, Math.max(this.min, mid));
  }

  #forEachBin(fn: (key: number, n: number) => void): void {
    const counts = this.#counts;
    for (let b = 0; b < counts.length; b++) {
      const n = counts[b]!;
      if (n !== 0) fn(this.#offset + b, n);
    }
  }

  #add(key: number, n: number): void {
    const index = key - this.#offset;
    if (index >= 0 && index < this.#counts.length) this.#counts[index]! += n;
    else this.#addSlow(key, n);
  }

  /**
   * The key is outside the window: grow the window around the occupied buckets, folding the
   * lowest into one when the span would pass maxBins. Rare: once per new octave at most.
   */
  #addSlow(key: number, n: number): void {
    const counts = this.#counts;
    if (key < this.#floor) {
      key = this.#floor;
      const index = key - this.#offset;
      if (index >= 0 && index < counts.length) {
        counts[index]! += n;
        return;
      }
    }
    let low = -1;
    let high = -1;
    for (let b = 0; b < counts.length; b++) {
      if (counts[b] !== 0) {
        if (low < 0) low = b;
        high = b;
      }
    }
    if (low < 0) {
      // Empty (new, or reset): a window of its own around the key.
      this.#floor = 0;
      const size = Math.min(this.#maxBins, Math.max(GROW_STEP, counts.length));
      const offset = Math.max(0, Math.min(key - (size >> 1), MAX_KEY + 1 - size));
      if (counts.length !== size) this.#counts = new Float64Array(size);
      this.#offset = offset;
      this.#counts[key - offset] = n;
      return;
    }
    const occupiedLow = Math.min(key, this.#offset + low);
    const occupiedHigh = Math.max(key, this.#offset + high);
    let start: number;
    let end: number;
    if (occupiedHigh - occupiedLow + 1 > this.#maxBins) {
      // Keep the top maxBins keys; everything under them folds into the lowest kept one, and
      // the window starts there so a later lower key takes this slow path and folds too.
      start = occupiedHigh - this.#maxBins + 1;
      end = occupiedHigh;
      this.#floor = start;
    } else {
      // Pad by an octave on the side that grows, so a drifting range reallocates rarely.
      start = Math.max(
        this.#floor,
        0,
        occupiedHigh - this.#maxBins + 1,
        occupiedLow - (key < this.#offset ? GROW_STEP : 0),
      );
      end = Math.min(MAX_KEY, start + this.#maxBins - 1, occupiedHigh + (key > this.#offset ? GROW_STEP : 0));
      start = Math.min(start, occupiedLow);
    }
    const next = new Float64Array(end - start + 1);
    for (let b = low; b <= high; b++) {
      const c = counts[b]!;
      if (c !== 0) next[Math.max(this.#offset + b, start) - start]! += c;
    }
    next[Math.max(key, start) - start]! += n;
    this.#offset = start;
    this.#counts = next;
  }
}

function nonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`${what} must be a finite number >= 0`);
  }
  return value;
}
