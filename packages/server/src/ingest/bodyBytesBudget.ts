/**
 * The bytes of ingest bodies (after decompression) that all requests together may hold while
 * they are read and parsed. Without it a hundred small gzip bodies that each inflate to just
 * under the per-request limit, sent without a key (a key in the body is only read after the
 * parse), held over a gigabyte and the event loop for seconds before each got its 401. A body
 * that would pass the budget is refused at once with 503 and Retry-After: the client sends it
 * again, and the bytes it would have held are never decompressed.
 */
export class BodyBytesBudget {
  private held = 0;

  constructor(readonly maxBytes: number) {}

  /** Bytes held now. */
  get inFlight(): number {
    return this.held;
  }

  /** Takes `n` bytes if they fit; false (nothing taken) when they do not. */
  take(n: number): boolean {
    if (this.held + n > this.maxBytes) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held = Math.max(0, this.held - n);
  }
}
