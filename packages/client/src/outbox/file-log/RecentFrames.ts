import type { OutboxRecord } from '../outbox.js';

/**
 * Records this process wrote lately, kept by their place in the segment so the delivery can
 * claim them without reading them back from disk. A claim that reads the file takes about
 * four awaited file operations (open, stat, read, close); in a process busy with its own work
 * each of those waits for a turn of the event loop, which is what held delivery back.
 *
 * Bounded by bytes. When full, new frames are not added: the delivery claims the oldest frames
 * first, so the ones already kept are the ones it needs next, and whatever was left out is read
 * from disk as before; a claim that reads disk keeps what it read beyond its batch, so one read
 * serves the claims after it. Frames leave when they are acked or dropped, or with their segment.
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
    let frames = this.bySegment.get(base);
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (this.byteCount + r.jsonBytes > this.maxBytes) return;
      if (frames === undefined) {
        frames = new Map();
        this.bySegment.set(base, frames);
      }
      const end = start + (i + 1 < offsets.length ? offsets[i + 1]! : groupBytes);
      frames.set(start + offsets[i]!, {
        record: { uuid: r.uuid, json: r.json, timestampMs: r.timestampMs },
        end,
        jsonBytes: r.jsonBytes,
      });
      this.byteCount += r.jsonBytes;
    }
  }

  /** Bytes that may still be added. */
  get room(): number {
    return Math.max(0, this.maxBytes - this.byteCount);
  }

  /** Keeps one frame read from disk ahead of a claim; false when there is no room. */
  add(base: string, offset: number, end: number, record: OutboxRecord, jsonBytes: number): boolean {
    if (this.byteCount + jsonBytes > this.maxBytes) return false;
    let frames = this.bySegment.get(base);
    if (frames === undefined) {
      frames = new Map();
      this.bySegment.set(base, frames);
    }
    const known = frames.get(offset);
    if (known !== undefined) this.byteCount -= known.jsonBytes;
    frames.set(offset, { record, end, jsonBytes });
    this.byteCount += jsonBytes;
    return true;
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
  }
}
