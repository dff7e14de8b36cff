import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DropReason } from '../outbox.js';
import { CursorFile } from './CursorFile.js';
import { eachAtMost } from './eachAtMost.js';
import { IntervalSet } from './IntervalSet.js';
import type { WrittenFrames } from './AppendBuffer.js';
import { processAlive } from './processAlive.js';
import { RecentFrames } from './RecentFrames.js';
import { CURSOR_FILE, OPEN_SUFFIX, SEALED_SUFFIX, parseSegmentFileName } from './segmentFiles.js';
import { SegmentFile, cutTail, whyNotOpened } from './segmentFile.js';
import { type DamagedRange, scanSegment } from './segmentScan.js';

/**
 * Segments read at once by a refresh. 5 000 one-event segments took ~750 ms to index one by one
 * (through `FileHandle`s) and ~240 ms 16 at a time on plain descriptors (2 cores, Node's 4
 * thread-pool threads); 8 was a little slower, 32 no faster.
 */
const SCAN_CONCURRENCY = 16;

/**
 * What is known about the segments of one outbox directory, in memory, per segment and never
 * per record: a scanned size, pending counts, the timestamp range, and two interval sets (gone,
 * claimed). A million waiting records cost a few dozen `Segment` objects.
 *
 * Two modes:
 * - holder (the process with the delivery lock): drops expired and damaged records for good,
 *   cuts torn tails, adopts the `.open` segments of dead processes, deletes segments wholly
 *   gone, and writes the cursor (`cursor.json`: the gone ranges per segment).
 * - observer (any other process, for `size()`): reads the same files and changes nothing.
 */
export interface Segment {
  readonly base: string;
  readonly pid: number;
  sealed: boolean;
  /** Written by this outbox instance. */
  readonly own: boolean;
  /** Frames in [0, scanned) are known; the rest of the file has not been read yet. */
  scanned: number;
  /** Sealed and scanned to the end of the file: nothing will be added. */
  complete: boolean;
  /** Frames not gone (claimed ones included). */
  events: number;
  bytes: number;
  minTs: number;
  maxTs: number;
  /** `minTs` may belong to a frame that is gone; recompute before reporting. */
  minTsStale: boolean;
  readonly removed: IntervalSet;
  readonly claimed: IntervalSet;
  claimedEvents: number;
  claimedBytes: number;
  /**
   * Claimed frames a `clear()` took (consent withdrawn while they were being sent): gone
   * whatever becomes of their batch, so the cursor saves them as gone at once (a crash or a
   * close must not hand them out again), while they still count as claimed until it settles.
   */
  readonly cleared: IntervalSet;
}

export interface SegmentIndexOptions {
  readonly directory: string;
  readonly holder: boolean;
  readonly retentionMs: number;
  readonly now: () => number;
  /** `.open` segments of a live process whose heartbeat is older than this are adopted. */
  readonly staleMs: number;
  readonly fsync: boolean;
  /** Bound of `recent`; 0 keeps nothing. */
  readonly recentBytes: number;
  /** Whether a segment is being written by this outbox instance. */
  readonly isOwn: (base: string) => boolean;
  readonly onDrop: (reason: DropReason, count: number, bytes?: number) => void;
  /**
   * Damaged ranges a non-holder saw and skipped (the holder cuts them, and reports them through
   * `onDrop`): how a read-only tool can say what the next holder will cut.
   */
  readonly onDamageSeen?: (ranges: number, bytes: number) => void;
  /**
   * A segment that cannot be read at all (EIO, a directory in its place) or is not opened at all
   * (a symlink, a FIFO: `whyNotOpened`): skipped, so the rest of the queue still goes out, and
   * looked at again at the next refresh. Told once per failure.
   */
  readonly onUnreadable?: (file: string, error: unknown) => void;
  /** A segment that still held events was deleted by something else (holder only; counted `corrupt` too). */
  readonly onVanished?: (file: string, events: number) => void;
  /** Something not ours (a FIFO, a socket, a link) was moved aside from the cursor's place (holder only). */
  readonly onMovedAside?: (file: string, what: string) => void;
  /** Runs the cursor's write; the outbox's `SpaceReserve.withRoom`, so a full disk still takes it. */
  readonly withRoom?: <T>(op: () => Promise<T>) => Promise<T>;
}

export class SegmentIndex {
  private readonly byBase = new Map<string, Segment>();
  private ordered: Segment[] = [];
  private readonly cursor: CursorFile;
  private loadedCursor = new Map<string, IntervalSet>();
  private cursorSignature = '';
  events = 0;
  bytes = 0;
  /** What this process wrote lately, so claims need not read it back (holder only). */
  readonly recent: RecentFrames;

  constructor(private readonly o: SegmentIndexOptions) {
    this.recent = new RecentFrames(o.recentBytes);
    this.cursor = new CursorFile(path.join(o.directory, CURSOR_FILE), {
      fsync: o.fsync,
      ...(o.onMovedAside === undefined ? {} : { onMovedAside: o.onMovedAside }),
    });
  }

  /** Frames neither gone nor claimed, over all segments. */
  freeEvents(): number {
    let free = 0;
    for (const seg of this.ordered) free += seg.events - seg.claimedEvents;
    return free;
  }

  /** Segments oldest first. */
  get segments(): readonly Segment[] {
    return this.ordered;
  }

  get(base: string): Segment | undefined {
    return this.byBase.get(base);
  }

  pathOf(seg: Segment): string {
    return path.join(this.o.directory, seg.base + (seg.sealed ? SEALED_SUFFIX : OPEN_SUFFIX));
  }

  /** Opens a segment for reading, following a rename from `.open` to `.log`; null if deleted. */
  async open(seg: Segment): Promise<SegmentFile | null> {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return await SegmentFile.open(this.pathOf(seg));
      } catch (error) {
        // Swapped for a symlink after it was indexed: never read through, it is gone for the
        // holder as a deleted one is (kept, it failed every claim and nothing went out).
        if ((error as NodeJS.ErrnoException).code === 'ELOOP' && this.o.holder) {
          this.forgetDeleted(seg);
          return null;
        }
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        if (!seg.sealed) seg.sealed = true;
        else return null;
      }
    }
    return null;
  }

  /** Reads the cursor and every segment from scratch. */
  async load(): Promise<void> {
    for (const seg of this.ordered) this.forget(seg);
    this.loadedCursor = await this.cursor.read();
    await this.refresh();
  }

  /**
   * Picks up what changed on disk: new segments, new frames, segments sealed or deleted by
   * others. An observer starts over when the holder rewrote the cursor.
   */
  async refresh(): Promise<void> {
    if (!this.o.holder) {
      const signature = await this.cursor.signature();
      if (signature !== this.cursorSignature) {
        for (const seg of [...this.ordered]) this.forget(seg);
        this.loadedCursor = await this.cursor.read();
        this.cursorSignature = signature;
      }
    }
    const listed = new Map<string, { pid: number; sealed: boolean }>();
    for (const entry of await fs.readdir(this.o.directory, { withFileTypes: true })) {
      const parsed = parseSegmentFileName(entry.name);
      if (parsed === null) continue;
      const refused = whyNotOpened(entry);
      if (refused !== null) {
        this.skipUnreadable(parsed.base, path.join(this.o.directory, entry.name), refused);
        continue;
      }
      const known = listed.get(parsed.base);
      // Mid-rename both names can show up; the sealed one wins.
      if (known === undefined || parsed.sealed)
        listed.set(parsed.base, { pid: parsed.pid, sealed: parsed.sealed });
    }
    for (const seg of [...this.ordered]) if (!listed.has(seg.base)) await this.leftTheListing(seg);
    this.gap = false;
    let added = false;
    for (const [base, info] of listed) {
      const seg = this.byBase.get(base);
      if (seg !== undefined) {
        if (info.sealed) seg.sealed = true;
        continue;
      }
      this.byBase.set(
        base,
        newSegment(base, info.pid, info.sealed, this.o.isOwn(base), this.loadedCursor.get(base)),
      );
      added = true;
    }
    if (added)
      this.ordered = [...this.byBase.values()].sort((a, b) =>
        a.base < b.base ? -1 : a.base > b.base ? 1 : 0,
      );
    let changed = false;
    // Several at once: each segment is a few file operations, each a thread-pool round trip.
    await eachAtMost(
      this.ordered.filter((seg) => !seg.complete),
      SCAN_CONCURRENCY,
      async (seg) => {
        try {
          if (!seg.sealed && !seg.own && this.o.holder && (await this.ownerGone(seg))) {
            if (await this.adopt(seg)) changed = true;
            return;
          }
          if (await this.scan(seg, seg.sealed)) changed = true;
          this.unreadable.delete(seg.base);
        } catch (error) {
          // One bad file must not hold up every other event: the others are read, this one is
          // tried again next time (it may be a passing failure).
          this.skipUnreadable(seg.base, this.pathOf(seg), error);
        }
      },
    );
    if (changed) await this.saveCursor();
  }

  /** Segments skipped because they could not be read, by base name: the failure last seen. */
  private readonly unreadable = new Map<string, string>();

  /** Tells of a skipped segment once per failure, not at every refresh. */
  private skipUnreadable(base: string, file: string, error: unknown): void {
    const said = String(error);
    if (this.unreadable.get(base) !== said) this.o.onUnreadable?.(file, error);
    this.unreadable.set(base, said);
  }

  /**
   * Counts a group this instance just wrote, so the index need not read it back, and keeps its
   * frames for claims (holder). A refresh may have read all or the first part of the group from
   * disk already (it ran while the write was landing, as when the index loads in a process that
   * is already appending): then only the frames past what it read are counted, and the frames
   * it read are still kept for claims while free, so the claims need not read them back either.
   * A group that starts past what the index has read leaves a gap: the next refresh reads it.
   */
  noteOwnWrite(
    base: string,
    start: number,
    end: number,
    group: { events: number; bytes: number; minTs: number; maxTs: number },
    frames?: WrittenFrames,
  ): void {
    let seg = this.byBase.get(base);
    if (seg === undefined) {
      seg = newSegment(base, process.pid, false, true, undefined);
      this.byBase.set(base, seg);
      this.ordered = [...this.ordered, seg].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : 0));
    }
    if (seg.complete || start > seg.scanned) return;
    if (seg.scanned === start) {
      seg.scanned = end;
      seg.events += group.events;
      seg.bytes += group.bytes;
      this.events += group.events;
      this.bytes += group.bytes;
      if (group.minTs < seg.minTs) seg.minTs = group.minTs;
      if (group.maxTs > seg.maxTs) seg.maxTs = group.maxTs;
      if (frames !== undefined && this.o.holder)
        this.recent.addGroup(base, start, end - start, frames.records, frames.offsets);
      return;
    }
    if (frames !== undefined) this.noteOverlappingWrite(seg, start, end, frames);
  }

  /** One more frame in the segment (not gone, not claimed). */
  private countFrame(seg: Segment, jsonBytes: number, timestampMs: number): void {
    seg.events++;
    seg.bytes += jsonBytes;
    this.events++;
    this.bytes += jsonBytes;
    if (timestampMs < seg.minTs) seg.minTs = timestampMs;
    if (timestampMs > seg.maxTs) seg.maxTs = timestampMs;
  }

  /** `noteOwnWrite` for a group a refresh has read from disk, all of it or a first part. */
  private noteOverlappingWrite(seg: Segment, start: number, end: number, frames: WrittenFrames): void {
    const { records, offsets } = frames;
    // The refresh stopped at a frame boundary of this file: one of this group's, or its end.
    if (seg.scanned < end && !offsets.some((o) => start + o === seg.scanned)) return;
    const readUpTo = seg.scanned;
    let keeping = this.o.holder;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const at = start + offsets[i]!;
      const next = i + 1 < offsets.length ? start + offsets[i + 1]! : end;
      if (at >= readUpTo) {
        this.countFrame(seg, r.jsonBytes, r.timestampMs);
      } else if (seg.removed.overlaps(at, next) || seg.claimed.overlaps(at, next)) {
        // Gone or claimed since the refresh counted it: a claim never looks it up again.
        continue;
      }
      if (keeping) {
        const record = { uuid: r.uuid, json: r.json, timestampMs: r.timestampMs };
        keeping = this.recent.keepWritten(seg.base, at, next, record, r.jsonBytes);
      }
    }
    if (end > seg.scanned) seg.scanned = end;
  }

  /**
   * Marks [start, end) (one frame of `jsonBytes`) gone. Answers false when it already was, so
   * a record is never counted twice.
   */
  markGone(seg: Segment, start: number, end: number, jsonBytes: number, timestampMs: number): boolean {
    if (seg.removed.covers(start, end)) return false;
    seg.removed.add(start, end);
    this.recent.delete(seg.base, start);
    seg.events--;
    seg.bytes -= jsonBytes;
    // A claimed frame acked after its segment was forgotten: the totals lost it then already.
    if (!this.has(seg)) return true;
    this.events--;
    this.bytes -= jsonBytes;
    if (timestampMs <= seg.minTs) seg.minTsStale = true;
    return true;
  }

  /** Marks every pending, unclaimed frame of the segment gone; answers how many. */
  clearUnclaimed(seg: Segment): { events: number; bytes: number } {
    const events = seg.events - seg.claimedEvents;
    const bytes = seg.bytes - seg.claimedBytes;
    if (events <= 0) return { events: 0, bytes: 0 };
    this.recent.deleteSegment(seg.base);
    let pos = 0;
    while (pos < seg.scanned) {
      const claimedAt = Math.min(seg.claimed.nextStart(pos), seg.scanned);
      seg.removed.add(pos, claimedAt);
      pos = seg.claimed.skip(claimedAt);
      if (claimedAt >= seg.scanned) break;
    }
    seg.events -= events;
    seg.bytes -= bytes;
    this.events -= events;
    this.bytes -= bytes;
    seg.minTsStale = true;
    return { events, bytes };
  }

  /**
   * Deletes sealed segments with nothing left (holder only). Call before saving the cursor:
   * the file goes first, so a crash in between leaves a cursor entry for a missing file
   * (ignored), never a file whose gone ranges were forgotten (which would send it all again).
   */
  async deleteFinished(): Promise<void> {
    if (!this.o.holder) return;
    for (const seg of [...this.ordered]) {
      if (!seg.complete || seg.events > 0 || seg.claimedEvents > 0) continue;
      await fs.rm(this.pathOf(seg), { force: true });
      this.forget(seg);
    }
  }

  /** Counts a segment again from its first byte (after damage showed up in indexed bytes). */
  async recount(seg: Segment): Promise<void> {
    this.recent.deleteSegment(seg.base);
    this.events -= seg.events;
    this.bytes -= seg.bytes;
    seg.events = 0;
    seg.bytes = 0;
    seg.scanned = 0;
    seg.complete = false;
    seg.minTs = Infinity;
    seg.maxTs = -Infinity;
    seg.minTsStale = false;
    await this.scan(seg, seg.sealed);
    await this.saveCursor();
  }

  /** Oldest timestamp among frames not gone, or null. */
  async oldestTimestamp(): Promise<number | null> {
    let oldest: number | null = null;
    for (const seg of this.ordered) {
      if (seg.events <= 0) continue;
      if (seg.minTsStale) await this.recomputeMinTs(seg);
      if (seg.events > 0 && (oldest === null || seg.minTs < oldest)) oldest = seg.minTs;
    }
    return oldest;
  }

  /** Changes whenever `cursor.json` is replaced (by any process). */
  cursorFileSignature(): Promise<string> {
    return this.cursor.signature();
  }

  /** Writes the cursor (holder only); skipped when nothing changed since the last write. */
  async saveCursor(): Promise<void> {
    if (!this.o.holder) return;
    const save = (): Promise<void> => this.cursor.save(() => this.goneRanges());
    await (this.o.withRoom === undefined ? save() : this.o.withRoom(save));
  }

  /** `saveCursor`, synchronously, for a process that ends in this turn; throws what fs throws. */
  saveCursorSync(): void {
    if (this.o.holder) this.cursor.saveSync(() => this.goneRanges());
  }

  /** What the cursor stores: the gone ranges, and the claimed ones a clear took (see `cleared`). */
  private goneRanges(): Record<string, number[]> {
    const removed: Record<string, number[]> = {};
    for (const seg of this.ordered) {
      const gone =
        seg.cleared.size === 0
          ? seg.removed
          : IntervalSet.fromJSON([...seg.removed.toJSON(), ...seg.cleared.toJSON()]);
      if (gone.size > 0) removed[seg.base] = gone.toJSON();
    }
    return removed;
  }

  /** Scans new bytes of one segment; answers whether something was dropped for good. */
  private async scan(seg: Segment, sealed: boolean): Promise<boolean> {
    const handle = await this.open(seg);
    if (handle === null) {
      this.forgetDeleted(seg);
      return false;
    }
    const cutoff = this.o.retentionMs > 0 ? this.o.now() - this.o.retentionMs : -Infinity;
    let expired = 0;
    let expiredBytes = 0;
    try {
      const result = await scanSegment(
        handle,
        {
          from: seg.scanned,
          sealed: sealed || seg.sealed,
          verifyPayload: true,
          skip: (p) => seg.removed.skip(p),
        },
        (offset, header) => {
          const end = offset + header.frameBytes;
          if (header.timestampMs < cutoff && this.o.holder) {
            seg.removed.add(offset, end);
            expired++;
            expiredBytes += header.jsonBytes;
            return;
          }
          this.countFrame(seg, header.jsonBytes, header.timestampMs);
        },
      );
      seg.scanned = result.end;
      if (sealed || seg.sealed) seg.complete = true;
      const damage = await this.handleDamage(seg, result.damaged, result.fileSize);
      this.o.onDrop('retention', expired, expiredBytes);
      return expired > 0 || damage;
    } finally {
      await handle.close();
    }
  }

  /** Damaged ranges are gone for good (holder); a damaged tail is cut off the file. */
  private async handleDamage(
    seg: Segment,
    damaged: readonly DamagedRange[],
    fileSize: number,
  ): Promise<boolean> {
    if (damaged.length === 0) return false;
    let bytes = 0;
    for (const d of damaged) {
      seg.removed.add(d.start, d.end);
      bytes += d.end - d.start;
    }
    if (!this.o.holder) {
      this.o.onDamageSeen?.(damaged.length, bytes);
      return false;
    }
    const tail = damaged[damaged.length - 1]!;
    if (tail.end >= fileSize && tail.header === null) {
      await cutTail(this.pathOf(seg), tail.start).catch(() => {});
      seg.removed.remove(tail.start, tail.end);
      seg.scanned = Math.min(seg.scanned, tail.start);
    }
    this.o.onDrop('corrupt', damaged.length, bytes);
    return true;
  }

  /** An `.open` segment whose writer is gone: cut its torn tail and seal it in its place. */
  private async adopt(seg: Segment): Promise<boolean> {
    // Renamed before the scan: a writer taken for dead that was only paused writes on into the
    // renamed file, finds its name gone and writes the group again elsewhere (SegmentWriter), so
    // whatever it wrote is either in this scan or in its new segment. Scanned first, a group
    // written between the scan and the rename was in neither: deleted unread with the segment.
    // The names come from the base, never from `pathOf`, which names the sealed file once
    // `sealed` is set. ENOENT: its writer sealed it itself (and exited) since the listing.
    if (!seg.sealed) {
      const base = path.join(this.o.directory, seg.base);
      try {
        await fs.rename(base + OPEN_SUFFIX, base + SEALED_SUFFIX);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    seg.sealed = true;
    return this.scan(seg, true);
  }

  private async ownerGone(seg: Segment): Promise<boolean> {
    if (!processAlive(seg.pid)) return true;
    try {
      const st = await fs.stat(this.pathOf(seg));
      return Date.now() - st.mtimeMs > this.o.staleMs;
    } catch {
      return false;
    }
  }

  private async recomputeMinTs(seg: Segment): Promise<void> {
    const handle = await this.open(seg);
    if (handle === null) return;
    let min = Infinity;
    try {
      await scanSegment(
        handle,
        { from: 0, until: seg.scanned, sealed: true, verifyPayload: false, skip: (p) => seg.removed.skip(p) },
        (_offset, header) => {
          if (header.timestampMs < min) min = header.timestampMs;
        },
      );
    } finally {
      await handle.close();
    }
    seg.minTs = min;
    seg.minTsStale = false;
  }

  /**
   * A segment no longer listed: sealed or deleted by another process, or (holder) deleted by
   * something that is not Homing. A rename seen mid-way may show neither name (POSIX leaves
   * entries renamed during a readdir out or in), so a holder looks again before it counts.
   */
  private async leftTheListing(seg: Segment): Promise<void> {
    // Forgotten, a segment read again later starts from the cursor as loaded: what was claimed
    // or sent since would go out again. `.open` first: a rename lands after it, never before.
    if (this.o.holder && seg.events > 0) {
      // A regular file: one swapped for a link or a FIFO is not read (`whyNotOpened`), and kept
      // in the index it failed every claim; it is gone as a deleted one is.
      const there = async (suffix: string): Promise<boolean> =>
        fs.lstat(path.join(this.o.directory, seg.base + suffix)).then(
          (st) => st.isFile(),
          () => false,
        );
      if ((await there(OPEN_SUFFIX)) || (await there(SEALED_SUFFIX))) return;
    }
    this.forgetDeleted(seg);
  }

  /**
   * Forgets a segment whose file is gone. The holder is the only one that deletes segments, and
   * only those with nothing left: one that still held events while this index held the lock
   * throughout was removed by something else (a user's `rm -rf`, a cache cleaner), and its
   * events are counted lost, never dropped in silence. Claimed ones are counted by their batch:
   * sent, or lost when it comes back (`LogQueue.returnFrames`). After a gap (`afterGap`) another
   * holder may have sent and deleted it, and nothing is counted.
   */
  private forgetDeleted(seg: Segment): void {
    const events = seg.events - seg.claimedEvents;
    if (this.o.holder && !this.gap && events > 0 && this.byBase.get(seg.base) === seg) {
      const bytes = seg.bytes - seg.claimedBytes;
      this.o.onDrop('corrupt', events, bytes);
      this.o.onVanished?.(this.pathOf(seg), events);
    }
    this.forget(seg);
  }

  /** Whether the index still knows this segment (it was not forgotten: deleted, or gone from the listing). */
  has(seg: Segment): boolean {
    return this.byBase.get(seg.base) === seg;
  }

  /**
   * The lock was let go and is held again with this index (parked): another holder may have
   * sent and deleted segments meanwhile, so until the next listing, one that is gone is not lost.
   */
  afterGap(): void {
    this.gap = true;
  }

  private gap = false;

  private forget(seg: Segment): void {
    if (!this.byBase.delete(seg.base)) return;
    this.recent.deleteSegment(seg.base);
    this.events -= seg.events;
    this.bytes -= seg.bytes;
    this.ordered = this.ordered.filter((s) => s !== seg);
  }
}

function newSegment(
  base: string,
  pid: number,
  sealed: boolean,
  own: boolean,
  removed: IntervalSet | undefined,
): Segment {
  return {
    base,
    pid,
    sealed,
    own,
    scanned: 0,
    complete: false,
    events: 0,
    bytes: 0,
    minTs: Infinity,
    maxTs: -Infinity,
    minTsStale: false,
    removed: removed ?? new IntervalSet(),
    claimed: new IntervalSet(),
    claimedEvents: 0,
    claimedBytes: 0,
    cleared: new IntervalSet(),
  };
}
