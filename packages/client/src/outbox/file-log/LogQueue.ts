import type { DropReason, OutboxBatch, OutboxRecord } from '../outbox.js';
import type { Segment, SegmentIndex } from './SegmentIndex.js';
import { decodePayload } from './frame.js';
import { type FrameCallback, type ScanResult, scanSegment } from './segmentScan.js';

/**
 * The consuming side of the file log, run by the delivery lock holder: claim the oldest frames
 * nobody holds, ack, release, drop (overflow, retention, consent). All of it is bookkeeping on
 * the index's interval sets; only the records being claimed are read, from the index's
 * `RecentFrames` when this process wrote them lately, else from disk.
 */
interface ClaimedFrame {
  readonly seg: Segment;
  readonly start: number;
  readonly end: number;
  readonly jsonBytes: number;
  readonly timestampMs: number;
  readonly record: OutboxRecord;
  settled: boolean;
  /** Taken by a `clear()` while claimed: gone however its batch settles (see `Segment.cleared`). */
  cleared: boolean;
}

interface ClaimedBatch {
  readonly frames: ClaimedFrame[];
}

export interface LogQueueOptions {
  readonly retentionMs: number;
  readonly now: () => number;
  readonly onDrop: (reason: DropReason, count: number, bytes?: number) => void;
}

export class LogQueue {
  private readonly batches = new Map<OutboxBatch, ClaimedBatch>();

  constructor(
    private readonly index: SegmentIndex,
    private readonly o: LogQueueOptions,
  ) {}

  /** Batches claimed and not yet acked or released. */
  get outstanding(): number {
    return this.batches.size;
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    const frames: ClaimedFrame[] = [];
    let bytes = 0;
    let full = false;
    const cutoff = this.o.retentionMs > 0 ? this.o.now() - this.o.retentionMs : -Infinity;
    let expired = 0;
    let expiredBytes = 0;
    const recent = this.index.recent;
    const take = (
      seg: Segment,
      start: number,
      end: number,
      jsonBytes: number,
      record: OutboxRecord,
    ): void => {
      seg.claimed.add(start, end);
      seg.claimedEvents++;
      seg.claimedBytes += jsonBytes;
      frames.push({
        seg,
        start,
        end,
        jsonBytes,
        timestampMs: record.timestampMs,
        record,
        settled: false,
        cleared: false,
      });
      bytes += jsonBytes;
      if (frames.length >= maxEvents) full = true;
    };
    for (const seg of [...this.index.segments]) {
      if (full) break;
      if (seg.events - seg.claimedEvents <= 0) continue;
      // From memory while the next free frame is one this process wrote lately.
      const free = freeFrom(seg);
      let from = free(0);
      while (!full && from < seg.scanned) {
        const kept = recent.get(seg.base, from);
        if (kept === undefined) break;
        const { record, end, jsonBytes } = kept;
        if (record.timestampMs < cutoff) {
          if (this.index.markGone(seg, from, end, jsonBytes, record.timestampMs)) {
            expired++;
            expiredBytes += jsonBytes;
          }
        } else if (frames.length > 0 && bytes + jsonBytes > maxBytes) {
          full = true;
          break;
        } else {
          take(seg, from, end, jsonBytes, record);
        }
        from = free(end);
      }
      if (full) break;
      if (from >= seg.scanned) continue;
      // Read about what the batch needs (from the segment's average record), and as much more
      // as the claim cache has room for: the claims after this one then need no read.
      const wanted =
        Math.min(maxEvents - frames.length, seg.events) * (seg.bytes / Math.max(1, seg.events) + 100);
      const ahead = recent.room;
      const chunkBytes = Math.min(
        1 << 20,
        Math.max(16 * 1024, Math.min(wanted, maxBytes - bytes + 64 * 1024) + ahead),
      );
      let aheadBytes = 0;
      const result = await this.scanFree(seg, true, chunkBytes, from, (offset, header, buf, at) => {
        const end = offset + header.frameBytes;
        if (header.timestampMs < cutoff) {
          if (this.index.markGone(seg, offset, end, header.jsonBytes, header.timestampMs)) {
            expired++;
            expiredBytes += header.jsonBytes;
          }
          return;
        }
        if (!full && frames.length > 0 && bytes + header.jsonBytes > maxBytes) full = true;
        const { uuid, json } = decodePayload(buf, at, header);
        const record: OutboxRecord = { uuid, json, timestampMs: header.timestampMs };
        if (!full) {
          take(seg, offset, end, header.jsonBytes, record);
          return !full || ahead > 0;
        }
        // Past the batch: kept for the next claims while the read chunk lasts and there is room.
        aheadBytes += header.frameBytes;
        return aheadBytes <= ahead && recent.add(seg.base, offset, end, record, header.jsonBytes);
      });
      if (result !== null && result.damaged.length > 0) await this.dropDamaged(seg, result.damaged);
      // Read through to the newest frame indexed: every free frame is kept or claimed now, so the
      // frames written from here on may be kept again (see RecentFrames).
      const segments = this.index.segments;
      if (
        result !== null &&
        !result.stopped &&
        result.end >= seg.scanned &&
        segments[segments.length - 1] === seg
      ) {
        recent.resume();
      }
    }
    this.o.onDrop('retention', expired, expiredBytes);
    if (frames.length === 0) return null;
    const batch: OutboxBatch = { records: frames.map((f) => f.record), bytes };
    this.batches.set(batch, { frames });
    return batch;
  }

  /** Delivered: every frame of the batch is gone. Answers false for an unknown batch. */
  ack(batch: OutboxBatch): boolean {
    const claimed = this.batches.get(batch);
    if (claimed === undefined) return false;
    this.batches.delete(batch);
    for (const f of claimed.frames) this.settle(f, true);
    return true;
  }

  /**
   * Not delivered: claimable again where they were, so in their original order; those a clear
   * took meanwhile are dropped instead (counted 'consent').
   */
  release(batch: OutboxBatch): boolean {
    const claimed = this.batches.get(batch);
    if (claimed === undefined) return false;
    this.batches.delete(batch);
    this.returnFrames([claimed]);
    return true;
  }

  /**
   * Removes these records from their claimed batches for good; answers the records to store as
   * dead letters. Those a clear took while in flight are dropped instead (counted 'consent'): a
   * dead letter can be replayed, which would send them after consent was withdrawn.
   */
  takeForDeadLetter(records: readonly OutboxRecord[]): OutboxRecord[] {
    const all = [...this.batches.values()].flatMap((b) => b.frames).filter((f) => !f.settled);
    const objects = new Set<OutboxRecord>();
    const names = new Set<string>();
    const claimedObjects = new Set(all.map((f) => f.record));
    for (const r of records) {
      if (r === null || typeof r !== 'object') continue;
      if (claimedObjects.has(r)) objects.add(r);
      else if (typeof r.uuid === 'string') names.add(r.uuid);
    }
    const taken: OutboxRecord[] = [];
    let cleared = 0;
    let clearedBytes = 0;
    for (const f of all) {
      if (!objects.has(f.record) && !names.has(f.record.uuid)) continue;
      if (f.cleared) {
        cleared++;
        clearedBytes += f.jsonBytes;
      } else {
        taken.push(f.record);
      }
      this.settle(f, true);
    }
    this.o.onDrop('consent', cleared, clearedBytes);
    return taken;
  }

  /**
   * Drops every pending frame nobody holds; frames in flight are gone too, in the cursor at its
   * next save, whatever becomes of their batch: removed if it is acked, counted as dropped if it
   * is released or the claim is forgotten (a close, a lost lock). Only the first are answered.
   */
  clear(): { events: number; bytes: number } {
    let events = 0;
    let bytes = 0;
    for (const seg of this.index.segments) {
      const dropped = this.index.clearUnclaimed(seg);
      events += dropped.events;
      bytes += dropped.bytes;
    }
    for (const claimed of this.batches.values()) {
      for (const f of claimed.frames) {
        if (f.settled || f.cleared) continue;
        f.cleared = true;
        f.seg.cleared.add(f.start, f.end);
      }
    }
    return { events, bytes };
  }

  /**
   * `clear()` of the frames that start before `upTo[seg.base]` (another process's clear request,
   * see `ClearRequests`); frames after it, and segments it does not name, are kept. Frames in
   * flight before the offset are cleared as by `clear()`. Answers the pending frames dropped.
   */
  async clearUpTo(upTo: ReadonlyMap<string, number>): Promise<{ events: number; bytes: number }> {
    let events = 0;
    let bytes = 0;
    for (const seg of [...this.index.segments]) {
      const end = upTo.get(seg.base);
      if (end === undefined) continue;
      if (end >= seg.scanned) {
        const dropped = this.index.clearUnclaimed(seg);
        events += dropped.events;
        bytes += dropped.bytes;
        // Not read by this process yet (a segment it could not read): gone before it is counted.
        if (end > seg.scanned) seg.removed.add(seg.scanned, end);
      } else {
        await this.scanFree(seg, false, 256 * 1024, 0, (offset, header) => {
          if (offset >= end) return false;
          if (
            this.index.markGone(seg, offset, offset + header.frameBytes, header.jsonBytes, header.timestampMs)
          ) {
            events++;
            bytes += header.jsonBytes;
          }
        });
      }
      for (const claimed of this.batches.values()) {
        for (const f of claimed.frames) {
          if (f.seg !== seg || f.start >= end || f.settled || f.cleared) continue;
          f.cleared = true;
          f.seg.cleared.add(f.start, f.end);
        }
      }
    }
    return { events, bytes };
  }

  /** Drops the oldest unclaimed frames until the excess is gone; answers what was dropped. */
  async dropOldest(excessEvents: number, excessBytes: number): Promise<{ events: number; bytes: number }> {
    let events = 0;
    let bytes = 0;
    for (const seg of [...this.index.segments]) {
      if (events >= excessEvents && bytes >= excessBytes) break;
      if (seg.events - seg.claimedEvents <= 0) continue;
      await this.scanFree(seg, false, 256 * 1024, 0, (offset, header) => {
        if (
          this.index.markGone(seg, offset, offset + header.frameBytes, header.jsonBytes, header.timestampMs)
        ) {
          events++;
          bytes += header.jsonBytes;
        }
        return !(events >= excessEvents && bytes >= excessBytes);
      });
    }
    return { events, bytes };
  }

  /** Drops the newest unclaimed frames until the excess is gone; answers what was dropped. */
  async dropNewest(excessEvents: number, excessBytes: number): Promise<{ events: number; bytes: number }> {
    let events = 0;
    let bytes = 0;
    for (const seg of [...this.index.segments].reverse()) {
      if (events >= excessEvents && bytes >= excessBytes) break;
      if (seg.events - seg.claimedEvents <= 0) continue;
      const found: { start: number; end: number; jsonBytes: number; ts: number }[] = [];
      await this.scanFree(seg, false, 256 * 1024, 0, (offset, header) => {
        found.push({
          start: offset,
          end: offset + header.frameBytes,
          jsonBytes: header.jsonBytes,
          ts: header.timestampMs,
        });
      });
      for (let i = found.length - 1; i >= 0 && !(events >= excessEvents && bytes >= excessBytes); i--) {
        const f = found[i]!;
        if (this.index.markGone(seg, f.start, f.end, f.jsonBytes, f.ts)) {
          events++;
          bytes += f.jsonBytes;
        }
      }
    }
    return { events, bytes };
  }

  /** Scans the frames of `seg` nobody holds and that are not gone; null if the file is gone. */
  private async scanFree(
    seg: Segment,
    verifyPayload: boolean,
    chunkBytes: number,
    from: number,
    onFrame: FrameCallback,
  ): Promise<ScanResult | null> {
    const handle = await this.index.open(seg);
    if (handle === null) return null;
    try {
      return await scanSegment(
        handle,
        { from, until: seg.scanned, sealed: true, verifyPayload, skip: freeFrom(seg), chunkBytes },
        onFrame,
      );
    } finally {
      await handle.close();
    }
  }

  /**
   * Forgets every claim (the lock was lost or the outbox closes): the frames stay on disk for
   * the next claim, except those a clear took, which are dropped as at a release.
   */
  forgetClaims(): void {
    const all = [...this.batches.values()];
    this.batches.clear();
    this.returnFrames(all);
  }

  /** The unsettled frames of these batches go back to the queue, or are dropped if cleared. */
  private returnFrames(batches: readonly ClaimedBatch[]): void {
    let count = 0;
    let bytes = 0;
    let lost = 0;
    let lostBytes = 0;
    for (const claimed of batches) {
      for (const f of claimed.frames) {
        if (f.settled) continue;
        if (f.cleared) {
          count++;
          bytes += f.jsonBytes;
        } else if (!this.index.has(f.seg)) {
          // Its segment was deleted by something else while the batch was out: nothing to go
          // back to (see `SegmentIndex.forgetDeleted`).
          lost++;
          lostBytes += f.jsonBytes;
        }
        this.settle(f, false);
      }
    }
    this.o.onDrop('consent', count, bytes);
    if (lost > 0) this.o.onDrop('corrupt', lost, lostBytes);
  }

  /** The frame is no longer claimed; `gone` (or a clear that took it) marks it gone for good. */
  private settle(f: ClaimedFrame, gone: boolean): void {
    if (f.settled) return;
    f.settled = true;
    f.seg.claimed.remove(f.start, f.end);
    f.seg.claimedEvents--;
    f.seg.claimedBytes -= f.jsonBytes;
    if (f.cleared) f.seg.cleared.remove(f.start, f.end);
    if (gone || f.cleared) this.index.markGone(f.seg, f.start, f.end, f.jsonBytes, f.timestampMs);
  }

  /** Damage found after the segment was indexed (the file changed under us): drop and recount. */
  private async dropDamaged(seg: Segment, damaged: readonly { start: number; end: number }[]): Promise<void> {
    let bytes = 0;
    for (const d of damaged) {
      seg.removed.add(d.start, d.end);
      bytes += d.end - d.start;
    }
    await this.index.recount(seg);
    this.o.onDrop('corrupt', damaged.length, bytes);
  }
}

/** Skips what is gone and what is claimed: what is left is free to claim or drop. */
function freeFrom(seg: Segment): (pos: number) => number {
  return (pos) => {
    let p = pos;
    for (;;) {
      const next = seg.claimed.skip(seg.removed.skip(p));
      if (next === p) return p;
      p = next;
    }
  };
}
