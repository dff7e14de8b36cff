/**
 * Dedup by fingerprint: the first error of a fingerprint is sent; the same fingerprint again
 * within `windowMs` of that send is only counted; the next one after the window is sent with
 * that count (`suppressed`) and opens a new window. Counts still pending when an entry is
 * evicted (more than `maxEntries` fingerprints) or at close are handed to `onPending`, so no
 * occurrence is ever lost from the totals. windowMs 0 sends everything.
 */
export interface PendingDuplicates {
  fingerprint: string;
  /** Occurrences counted but not sent since the last one sent. */
  suppressed: number;
  /** The id of the last occurrence sent for this fingerprint. */
  lastSentId: string;
}

interface Entry {
  windowStart: number;
  suppressed: number;
  lastSentId: string;
}

export type DedupDecision = { send: true; suppressedBefore: number } | { send: false };

export class DedupWindow {
  // Map order is least recently seen first: re-inserted on every hit.
  private readonly entries = new Map<string, Entry>();
  /** The fingerprint checked last: already last in `entries`, no need to move it. */
  private newest: string | undefined;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries: number,
    private readonly onPending: (pending: PendingDuplicates) => void,
  ) {}

  check(fingerprint: string, errorId: string, now: number): DedupDecision {
    if (this.windowMs === 0) return { send: true, suppressedBefore: 0 };
    const entry = this.entries.get(fingerprint);
    if (entry !== undefined) {
      if (fingerprint !== this.newest) {
        this.entries.delete(fingerprint);
        this.entries.set(fingerprint, entry);
        this.newest = fingerprint;
      }
      // A clock that stepped back counts as inside the window, never as a reason to resend.
      const inWindow = now - entry.windowStart < this.windowMs;
      if (inWindow) {
        entry.suppressed++;
        return { send: false };
      }
      const suppressedBefore = entry.suppressed;
      entry.windowStart = now;
      entry.suppressed = 0;
      entry.lastSentId = errorId;
      return { send: true, suppressedBefore };
    }
    this.entries.set(fingerprint, { windowStart: now, suppressed: 0, lastSentId: errorId });
    this.newest = fingerprint;
    if (this.entries.size > this.maxEntries) {
      const [oldest, old] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(oldest);
      if (old.suppressed > 0)
        this.onPending({ fingerprint: oldest, suppressed: old.suppressed, lastSentId: old.lastSentId });
    }
    return { send: true, suppressedBefore: 0 };
  }

  /** Hands every pending count to `onPending` and forgets them. */
  flush(): void {
    for (const [fingerprint, e] of this.entries) {
      if (e.suppressed > 0) {
        this.onPending({ fingerprint, suppressed: e.suppressed, lastSentId: e.lastSentId });
        e.suppressed = 0;
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
