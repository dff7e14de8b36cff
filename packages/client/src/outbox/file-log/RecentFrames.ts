import type { OutboxRecord } from '../outbox.js';

/**
 * Records this process wrote lately, kept by their place in the segment so the delivery can
 * claim them without reading them back from disk. A claim that reads the file takes about
 * four awaited file operations (open, stat, read, close); in a process busy with its own work
 * each of those waits for a turn of the event loop, which is what held delivery back.
 *
 * Bounded by bytes, and always the oldest frames written since the cache last caught up: once a
 * group is left out for lack of room, later groups are left out too (`skipping`), until a claim
 * that read disk has read through to the newest frame and calls `resume()`. The delivery claims
 * the oldest frames first, so what is kept is what it needs next; the frames left out are read
 * from disk by the claim that reaches them, which keeps what it read beyond its batch in the
 * room acks gave back, so one read serves the claims after it. (Adding the newest groups as
 * room came back filled the cache with frames far ahead of the claims, and every claim behind
 * them read disk: in a busy process, four awaited file operations, each waiting for a turn of
 * the event loop.) Frames leave when they are acked or dropped, or with their segment.
 *
 * Only what was written is kept; what is on disk stays the truth (a crash loses this cache,
 * never a record).
 */
export interface RecentFrame {
  readonly record: OutboxRecord;
  /** Offset of the next frame in the segment. */
  readonly end: number;
  readonly jsonBytes: number;
}

export class RecentFrames {
  private readonly bySegment = new Map<string, Map<number, RecentFrame>>();
  private byteCount = 0;
  /** A frame written was left out: leave out later ones too, until `resume()`. */
  private skipping = false;

  /** `maxBytes`: of event JSON (`claimCacheBytes`, default 1 MiB: about 2 500 typical events). */
  constructor(private readonly maxBytes: number) {}

  get bytes(): number {
    return this.byteCount;
  }

  /**
   * Keeps the frames of one group as written at `start` of segment `base`: `offsets[i]` is
   * where record i starts, relative to `start`; `groupBytes` is the group's length on disk.
   */
  addGroup(
    base: string,
    start: number,
    groupBytes: number,
    records: readonly { uuid: string; json: string; timestampMs: number; jsonBytes: number }[],
    offsets: readonly number[],
  ): void {
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const end = start + (i + 1 < offsets.length ? offsets[i + 1]! : groupBytes);
      const record = { uuid: r.uuid, json: r.json, timestampMs: r.timestampMs };
      if (!this.keepWritten(base, start + offsets[i]!, end, record, r.jsonBytes)) return;
    }
  }

  /**
   * Keeps one frame just written (in the order they were written); false when it was left out
   * (no room, or an earlier one was left out and no claim has caught up since).
   */
  keepWritten(base: string, offset: number, end: number, record: OutboxRecord, jsonBytes: number): boolean {
    if (this.skipping) return false;
    if (this.byteCount + jsonBytes > this.maxBytes) {
      this.skipping = true;
      return false;
    }
    this.put(base, offset, { record, end, jsonBytes });
    return true;
  }

  /** A claim read disk through to the newest frame: frames written from now on are kept again. */
  resume(): void {
    this.skipping = false;
  }

  /** Whether frames being written are left out (see `resume`). */
  get isSkipping(): boolean {
    return this.skipping;
  }

  /** Bytes that may still be added. */
  get room(): number {
    return Math.max(0, this.maxBytes - this.byteCount);
  }

  /** Keeps one frame read from disk ahead of a claim; false when there is no room. */
  add(base: string, offset: number, end: number, record: OutboxRecord, jsonBytes: number): boolean {
    if (this.byteCount + jsonBytes > this.maxBytes) return false;
    this.put(base, offset, { record, end, jsonBytes });
    return true;
  }

  private put(base: string, offset: number, frame: RecentFrame): void {
    let frames = this.bySegment.get(base);
    if (frames === undefined) {
      frames = new Map();
      this.bySegment.set(base, frames);
    }
    const known = frames.get(offset);
    if (known !== undefined) this.byteCount -= known.jsonBytes;
    frames.set(offset, frame);
    this.byteCount += frame.jsonBytes;
  }

  /** The frame that starts at `offset` of segment `base`, if kept. */
  get(base: string, offset: number): RecentFrame | undefined {
    return this.bySegment.get(base)?.get(offset);
  }

  /** Forgets one frame (acked, dropped). */
  delete(base: string, offset: number): void {
    const frames = this.bySegment.get(base);
    const frame = frames?.get(offset);
    if (frame === undefined) return;
    frames!.delete(offset);
    this.byteCount -= frame.jsonBytes;
    if (frames!.size === 0) this.bySegment.delete(base);
  }

  /** Forgets every frame of a segment (deleted, forgotten, recounted after damage). */
  deleteSegment(base: string): void {
    const frames = this.bySegment.get(base);
    if (frames === undefined) return;
    for (const frame of frames.values()) this.byteCount -= frame.jsonBytes;
    this.bySegment.delete(base);
  }

  clear(): void {
    this.bySegment.clear();
    this.byteCount = 0;
    this.skipping = false;
  }
}
