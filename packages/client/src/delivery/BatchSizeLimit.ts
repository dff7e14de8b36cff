/**
 * How long the sizes of batches answered 413 are remembered, from the last such answer: then full
 * batches are tried again, in case the endpoint's limit was raised (one 413 to find out).
 */
export const REFUSED_SIZE_MEMORY_MS = 10 * 60_000;

/** A batch's size in both of the ways a claim is bounded. */
export interface BatchSize {
  readonly events: number;
  /** UTF-8 bytes of the events' JSON (`OutboxBatch.bytes`). */
  readonly bytes: number;
}

type Dimension = keyof BatchSize;
const DIMENSIONS: readonly Dimension[] = ['events', 'bytes'];

/**
 * The largest batch to claim after an endpoint answered 413 (too large). A 413 does not say
 * which limit was passed (a proxy's body size, a server's event count), so both are kept: the
 * smallest size refused, and the largest accepted below it, per dimension.
 *
 * A refused batch is split (half as many events and bytes, or what is known to pass when that is
 * more), and no claim grows back to a size that was refused: doubling back after every accepted
 * batch sent every other request over the limit again, in a saw-tooth (two thirds of the
 * requests of a backlog answered 413, each uploaded whole for nothing). While what passes is
 * under 3/5 of what was refused, a batch that filled the limit lets it grow to halfway between
 * the two: that probe passes (what passes is then over 3/5 of the refused size) or is refused
 * (and becomes the refused size, which what passes is then about 2/3 of); either way the growing
 * stops. So once the halvings found a size that passes, a probe costs about one 413 per batch
 * in flight at its size, and batches stay at 3/5 of the endpoint's limit or more. Everything is
 * forgotten `REFUSED_SIZE_MEMORY_MS` after the last 413.
 */
export class BatchSizeLimit {
  /** Smallest size refused, per dimension; null: nothing refused (or forgotten). */
  private refused: Record<Dimension, number> | null = null;
  /** Largest size accepted, below the refused one, per dimension. */
  private readonly passed: Record<Dimension, number> = { events: 0, bytes: 0 };
  private readonly cap: Record<Dimension, number> = { events: Infinity, bytes: Infinity };
  private refusedAtMs = 0;

  constructor(private readonly memoryMs = REFUSED_SIZE_MEMORY_MS) {}

  /** The most a claim may take now in each dimension (Infinity: no limit of this one's). */
  current(now: number): BatchSize {
    if (this.refused !== null && now - this.refusedAtMs >= this.memoryMs) this.forget();
    return this.cap;
  }

  /** A batch of this size (of more than one event) was answered 413: it is split. */
  tooLarge(size: BatchSize, now: number): void {
    this.refusedAtMs = now;
    const refused = (this.refused ??= { events: Infinity, bytes: Infinity });
    for (const d of DIMENSIONS) {
      refused[d] = Math.min(refused[d], size[d]);
      // Passed at a size since refused: the endpoint's limit changed (or is not a size at all).
      if (this.passed[d] >= refused[d]) this.passed[d] = 0;
      const split = Math.max(Math.ceil(size[d] / 2), this.passed[d]);
      this.cap[d] = Math.max(1, Math.min(this.cap[d], split));
    }
  }

  /** A batch of this size was accepted. */
  accepted(size: BatchSize): void {
    const refused = this.refused;
    if (refused === null) return;
    let filled = false;
    for (const d of DIMENSIONS) {
      // A single event may be larger than the cap (it goes alone): it passed, but no batch will.
      this.passed[d] = Math.max(this.passed[d], Math.min(size[d], refused[d] - 1));
      // Within an eighth of the cap: the claim stopped at it (a claim ends at a whole event).
      if (size[d] * 8 >= this.cap[d] * 7) filled = true;
    }
    // A small batch (a quiet moment) says nothing about the limit.
    if (!filled) return;
    if (!DIMENSIONS.every((d) => this.passed[d] * 5 < refused[d] * 3)) return;
    for (const d of DIMENSIONS) {
      this.cap[d] = Math.max(this.cap[d], Math.floor((this.passed[d] + refused[d]) / 2));
    }
  }

  private forget(): void {
    this.refused = null;
    for (const d of DIMENSIONS) {
      this.passed[d] = 0;
      this.cap[d] = Infinity;
    }
  }
}
