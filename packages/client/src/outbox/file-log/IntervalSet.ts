/**
 * A set of byte ranges of one segment, as sorted, disjoint, half-open intervals [start, end).
 * The file outbox keeps two per segment: what is gone (acknowledged, dropped, corrupt) and what
 * is claimed. Records are contiguous, so a handful of intervals describe millions of records.
 */
export class IntervalSet {
  private starts: number[] = [];
  private ends: number[] = [];

  get size(): number {
    return this.starts.length;
  }

  /** Adds [start, end), merging with touching or overlapping intervals. */
  add(start: number, end: number): void {
    if (end <= start) return;
    // First interval whose end reaches `start` (touching counts, so neighbours merge).
    const i = this.firstEndingAtOrAfter(start);
    let s = start;
    let e = end;
    let j = i;
    while (j < this.starts.length && this.starts[j]! <= e) {
      s = Math.min(s, this.starts[j]!);
      e = Math.max(e, this.ends[j]!);
      j++;
    }
    if (j === i + 1) {
      // One interval grows (a claim or an ack next to the last one: the common case, once per
      // record): changed in place, without the two arrays `splice` makes.
      this.starts[i] = s;
      this.ends[i] = e;
      return;
    }
    this.starts.splice(i, j - i, s);
    this.ends.splice(i, j - i, e);
  }

  /** Removes [start, end), splitting an interval that straddles it. */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const i = this.firstEndingAfter(start);
    if (i < this.starts.length && this.starts[i]! < end) {
      // One interval cut at one side only (acks settle the oldest claims first): changed in place.
      const first = this.starts[i]!;
      const last = this.ends[i]!;
      const alone = i + 1 === this.starts.length || this.starts[i + 1]! >= end;
      if (alone && first >= start && last > end) {
        this.starts[i] = end;
        return;
      }
      if (alone && first < start && last <= end) {
        this.ends[i] = start;
        return;
      }
    }
    const newStarts: number[] = [];
    const newEnds: number[] = [];
    let j = i;
    while (j < this.starts.length && this.starts[j]! < end) {
      if (this.starts[j]! < start) {
        newStarts.push(this.starts[j]!);
        newEnds.push(start);
      }
      if (this.ends[j]! > end) {
        newStarts.push(end);
        newEnds.push(this.ends[j]!);
      }
      j++;
    }
    this.starts.splice(i, j - i, ...newStarts);
    this.ends.splice(i, j - i, ...newEnds);
  }

  /** Whether every byte of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i]! <= start && this.ends[i]! >= end;
  }

  /** Whether any byte of [start, end) is in the set. */
  overlaps(start: number, end: number): boolean {
    const i = this.firstEndingAfter(start);
    return i < this.starts.length && this.starts[i]! < end;
  }

  /** The end of the interval holding `pos`, or `pos` itself when no interval holds it. */
  skip(pos: number): number {
    const i = this.firstEndingAfter(pos);
    return i < this.starts.length && this.starts[i]! <= pos ? this.ends[i]! : pos;
  }

  /** The start of the first interval at or after `pos`, or Infinity. */
  nextStart(pos: number): number {
    const i = this.firstEndingAfter(pos);
    if (i >= this.starts.length) return Infinity;
    return Math.max(pos, this.starts[i]!);
  }

  /** Total bytes covered inside [start, end). */
  coveredWithin(start: number, end: number): number {
    let total = 0;
    for (let i = this.firstEndingAfter(start); i < this.starts.length && this.starts[i]! < end; i++) {
      total += Math.min(end, this.ends[i]!) - Math.max(start, this.starts[i]!);
    }
    return total;
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
  }

  /** Flat [s0, e0, s1, e1, ...] for storing as JSON. */
  toJSON(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.starts.length; i++) out.push(this.starts[i]!, this.ends[i]!);
    return out;
  }

  /** Reads what `toJSON` wrote; anything malformed is ignored rather than trusted. */
  static fromJSON(value: unknown): IntervalSet {
    const set = new IntervalSet();
    if (!Array.isArray(value)) return set;
    for (let i = 0; i + 1 < value.length; i += 2) {
      const s = value[i];
      const e = value[i + 1];
      if (Number.isSafeInteger(s) && Number.isSafeInteger(e) && s >= 0 && e > s) set.add(s, e);
    }
    return set;
  }

  private firstEndingAfter(pos: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private firstEndingAtOrAfter(pos: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! < pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
