import { Buffer } from 'node:buffer';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../logger.js';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { OutboxIoError } from '../errors.js';
import type { OutboxDurability } from '../outbox.js';
import { type EncodableRecord, encodeFrames, frameLength } from './frame.js';
import { SEALED_SUFFIX, newSegmentBase, parseSegmentFileName } from './segmentFiles.js';
import { writeFileAtomicSync } from './atomicFile.js';
import { makeDirectorySync } from './makeDirectory.js';
import type { SegmentWriter, WrittenGroup } from './SegmentWriter.js';
import { freeBytesOf, freeBytesOfSync, isNoSpace } from './SpaceReserve.js';

/**
 * Records appended but not yet on disk, and the grouped writes that put them there: one write
 * per `persistIntervalMs` (or next tick once a group reaches `flushEvents`/`flushBytes`), never
 * on the caller's turn. Writes run one after another; a failed write keeps its records, in
 * order, and is retried a second later.
 */
export interface GroupSummary {
  readonly events: number;
  readonly bytes: number;
  readonly minTs: number;
  readonly maxTs: number;
}

export interface WrittenFrames {
  readonly records: readonly EncodableRecord[];
  readonly offsets: readonly number[];
}

export interface AppendBufferOptions {
  readonly directory: string;
  readonly durability: OutboxDurability;
  readonly persistIntervalMs: number;
  readonly flushEvents: number;
  readonly flushBytes: number;
  /** The outbox limits; the buffer alone never holds more (oldest dropped first). */
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly writer: SegmentWriter;
  /** Settles before the first write (the directory exists). */
  readonly ready: Promise<void>;
  readonly logger: Logger;
  /**
   * Called after each group is written, before `flush()` resolves, with the group's records and
   * where each starts relative to `written.start`.
   */
  readonly onWritten: (written: WrittenGroup, group: GroupSummary, frames: WrittenFrames) => Promise<void>;
  /** Records given up: the oldest over the limits while writes fail (counted 'overflow'). */
  readonly onOverflow: (count: number, bytes?: number) => void;
  /** At and after `close`, what could not be written and has nothing left to retry it ('unsaved'). */
  readonly onUnsaved: (count: number, bytes: number) => void;
  /** Free bytes on the directory's file system (to keep WRITE_MARGIN_BYTES free); default statfs. */
  readonly freeBytes?: () => Promise<number>;
}

/** Bytes of frames per write; a single larger record gets a buffer of its own. */
export const WRITE_CHUNK_BYTES = 1024 * 1024;
/**
 * Room left free on a nearly full disk: delivery needs a little to go on (the lock file,
 * the cursor, state), and delivering is what frees room. Without it, appends took the last block
 * and no process could take the lock again: the events on disk were stuck for good.
 */
export const WRITE_MARGIN_BYTES = 256 * 1024;
/**
 * Under this much free (as last seen), every write checks the room first (statfs, awaited);
 * above it, the room is looked at once a second off the write's path. Several processes writing
 * at once can still take the margin between their checks: the space reserve covers that.
 */
export const CHECK_EACH_WRITE_BELOW_BYTES = 64 * 1024 * 1024;
const ROOM_CHECK_INTERVAL_MS = 1000;

/** A write held back to keep WRITE_MARGIN_BYTES free (counts as a full disk). */
function noRoomError(free: number): NodeJS.ErrnoException {
  return Object.assign(
    new Error(`ENOSPC: ${free} bytes free, under the ${WRITE_MARGIN_BYTES} kept free for delivery`),
    { code: 'ENOSPC' },
  );
}

/** A write that keeps failing (a full disk) is warned about at most this often. */
export const WRITE_WARN_INTERVAL_MS = 60_000;

export class AppendBuffer {
  private records: EncodableRecord[] = [];
  /** Reused by every chunk written; made at the first write. */
  private scratch: Buffer | null = null;
  private head = 0;
  private byteCount = 0;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private flushSoon: ReturnType<typeof setImmediate> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private writing: Promise<void> = Promise.resolve();
  /** The write `flush` queued behind the one under way, until it starts; null when none waits. */
  private queuedWrite: Promise<void> | null = null;
  private stopped = false;
  /** The group a write has taken and not yet written all of: still pending (`pendingEvents`). */
  private inFlight: { group: readonly EncodableRecord[]; from: number; bytes: number } | null = null;
  /**
   * Where the write under way has its records on disk up to (an index into its group), once the
   * segment took the current chunk: -1 before. Set before the write resolves (see `writeOnExit`).
   */
  private landedTo = -1;
  /**
   * That chunk, and where it is in its segment, until the write resolves: still in
   * `pendingEvents`, yet a refresh may have read it from disk (see `landed`).
   */
  private landedChunk: { written: WrittenGroup; frames: WrittenFrames } | null = null;
  /** Write failures not warned about yet (warned at most once per WRITE_WARN_INTERVAL_MS). */
  private unwarnedFailures = 0;
  /** Intervals are measured on it, not by wall-clock differences (a step back stalls those). */
  private readonly monotonicNow = monotonicClock();
  /** When (monotonic) a failed write was last warned about. */
  private lastWarnMs = -Infinity;
  /** Free bytes as last seen (undefined: not looked at yet, so the first write looks). */
  private lastFree: number | undefined;
  /** When (monotonic) the free room was last looked at. */
  private lastRoomCheckMs = -Infinity;
  /** Counts looks at the room (and writes found full): an answer applies only if still the newest. */
  private roomSeq = 0;
  /** The last write failed and its records wait for the retry (a full or unwritable disk). */
  private failing = false;
  /** The created time of the last segment written at exit (`writeSealedNow`); null before. */
  private lastExitSegmentMs: number | null = null;

  constructor(private readonly o: AppendBufferOptions) {}

  /** Records waiting for a write (the limits apply to these). */
  get events(): number {
    return this.records.length - this.head;
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** `events` and the records of a write under way: everything not on disk yet (for `size()`). */
  get pendingEvents(): number {
    const f = this.inFlight;
    return this.events + (f === null ? 0 : f.group.length - f.from);
  }

  get pendingBytes(): number {
    return this.byteCount + (this.inFlight?.bytes ?? 0);
  }

  /** The part of `pendingEvents` already in its segment, its write not resolved yet; or null. */
  get landed(): { written: WrittenGroup; frames: WrittenFrames } | null {
    return this.landedChunk;
  }

  oldestTimestamp(): number | null {
    let oldest: number | null = null;
    const f = this.inFlight;
    if (f !== null) {
      for (let i = f.from; i < f.group.length; i++) {
        const ts = f.group[i]!.timestampMs;
        if (oldest === null || ts < oldest) oldest = ts;
      }
    }
    for (let i = this.head; i < this.records.length; i++) {
      const ts = this.records[i]!.timestampMs;
      if (oldest === null || ts < oldest) oldest = ts;
    }
    return oldest;
  }

  /** The last write failed; its records wait in memory for the retry a second later. */
  get writesFailing(): boolean {
    return this.failing;
  }

  /**
   * Takes the oldest buffered records out of the buffer: at most `maxEvents`, and `maxBytes` of
   * JSON unless the first alone is larger. While writes fail, they can still be sent from memory
   * (see `FileOutbox.claim`); `putBack` returns them if the send fails.
   */
  takeOldest(maxEvents: number, maxBytes: number): EncodableRecord[] {
    const taken: EncodableRecord[] = [];
    let bytes = 0;
    while (this.head < this.records.length && taken.length < maxEvents) {
      const r = this.records[this.head]!;
      if (taken.length > 0 && bytes + r.jsonBytes > maxBytes) break;
      taken.push(r);
      bytes += r.jsonBytes;
      this.byteCount -= r.jsonBytes;
      this.head++;
    }
    this.compact();
    return taken;
  }

  /**
   * Puts records `takeOldest` took back ahead of the others, in order (their send failed), to be
   * written or taken again; over the limits, the oldest are dropped as for any append.
   */
  putBack(records: readonly EncodableRecord[]): void {
    if (records.length === 0) return;
    this.prepend(records);
    const dropped = this.trim();
    if (dropped > 0) this.o.onOverflow(dropped);
    this.schedule();
  }

  /** Queues a record; call `schedule()` after a run of pushes. */
  push(record: EncodableRecord): void {
    this.records.push(record);
    this.byteCount += record.jsonBytes;
  }

  /** Drops the oldest buffered records while over the limits (writes failing); answers how many. */
  trim(): number {
    let dropped = 0;
    while (this.events > this.o.maxEvents || this.byteCount > this.o.maxBytes) {
      this.byteCount -= this.records[this.head++]!.jsonBytes;
      dropped++;
    }
    this.compact();
    return dropped;
  }

  /** Puts `records` ahead of those still buffered, in order. */
  private prepend(records: readonly EncodableRecord[]): void {
    this.records = [...records, ...this.records.slice(this.head)];
    this.head = 0;
    for (const r of records) this.byteCount += r.jsonBytes;
  }

  /** Lets go of the records before `head` once they are most of the array. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.records.length) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets everything buffered (consent withdrawn); answers what was forgotten. */
  discard(): { events: number; bytes: number } {
    const dropped = { events: this.events, bytes: this.byteCount };
    this.records = [];
    this.head = 0;
    this.byteCount = 0;
    return dropped;
  }

  schedule(): void {
    if (this.stopped || this.events === 0) return;
    const full = this.events >= this.o.flushEvents || this.byteCount >= this.o.flushBytes;
    const timed = this.o.durability !== 'memory';
    if (full || (timed && this.o.persistIntervalMs === 0)) {
      if (this.flushSoon === null) {
        this.flushSoon = setImmediate(() => void this.flush().catch(() => {}));
        this.flushSoon.unref();
      }
    } else if (timed && this.flushTimer === null) {
      this.flushTimer = setTimeout(() => void this.flush().catch(() => {}), this.o.persistIntervalMs);
      this.flushTimer.unref();
    }
  }

  /** Writes everything buffered now, after writes already under way; resolves once written. */
  flush(): Promise<void> {
    // A write queued and not started yet takes everything buffered when it starts, this call's
    // records too. Chained one per call, a busy app queued writes faster than they ran (a flush
    // each turn, a write several turns): a claim's flush waited behind all of them, seconds.
    if (this.queuedWrite !== null) return this.queuedWrite;
    const run = this.writing.then(() => {
      this.queuedWrite = null;
      return this.writeGroup();
    });
    this.queuedWrite = run;
    this.writing = run.catch(() => {});
    return run;
  }

  /**
   * Seals the segment being written, after the writes under way (the next write starts another):
   * a clear emptied it, and only a sealed segment is deleted once nothing in it is pending.
   */
  sealActive(): Promise<void> {
    const run = this.writing.then(() => this.o.writer.sealIfWritten());
    this.writing = run.catch(() => {});
    return run;
  }

  /** Resolves when the writes under way are done (whether they failed or not). */
  settled(): Promise<void> {
    return this.writing;
  }

  /**
   * Final flush, then seal the active segment; no timer is left behind. What the final flush
   * could not write is given up and counted (`onUnsaved`): nothing is left to retry it.
   */
  async close(): Promise<void> {
    const flushed = this.flush();
    this.stopped = true;
    this.clearTimers();
    try {
      await flushed;
    } catch (error) {
      const lost = this.discard();
      this.o.logger.warn('outbox: records could not be written at close', {
        error: String(error),
        events: lost.events,
      });
      this.o.onUnsaved(lost.events, lost.bytes);
    }
    this.writing = this.writing.then(() => this.o.writer.seal()).catch(() => {});
    await this.writing;
  }

  /**
   * After `close()`: written at once, synchronously, as a sealed segment of its own; if that
   * fails they are given up and counted (`onUnsaved`).
   */
  writeAfterClose(records: readonly EncodableRecord[]): void {
    this.writeSealedNow(records, 'outbox: append after close could not be written');
  }

  /**
   * The process ends in this turn (`process.exit()`): what is still only in memory, the buffered
   * records and what a write under way has not finished, is written now, synchronously, as a
   * sealed segment of its own. The records of a write under way may then be on disk twice (the
   * uuid dedups them), which is better than losing them if it never lands. Nothing is written
   * after this.
   */
  writeOnExit(): void {
    this.stopped = true;
    this.clearTimers();
    const f = this.inFlight;
    // A chunk already in the segment (its write not resolved yet) is not written again.
    const records = f === null ? [] : f.group.slice(Math.max(f.from, this.landedTo));
    for (let i = this.head; i < this.records.length; i++) records.push(this.records[i]!);
    this.discard();
    this.inFlight = null;
    this.landedChunk = null;
    if (records.length === 0) return;
    // The margin kept free for delivery holds at exit too: short runs on a full disk, each
    // writing its last events into it, would take the room the next run needs to deliver.
    const room = this.roomNow();
    let fits = 0;
    let bytes = 0;
    while (fits < records.length && bytes + frameLength(records[fits]!) <= room)
      bytes += frameLength(records[fits++]!);
    if (fits < records.length) {
      let lost = 0;
      for (let i = fits; i < records.length; i++) lost += records[i]!.jsonBytes;
      this.o.logger.warn('outbox: no room to store records at exit', { events: records.length - fits });
      this.o.onUnsaved(records.length - fits, lost);
    }
    if (fits > 0) this.writeSealedNow(records.slice(0, fits), 'outbox: records could not be written at exit');
  }

  /** Bytes a write may take now and leave WRITE_MARGIN_BYTES free, synchronously; see `roomForRecords`. */
  private roomNow(): number {
    if (this.lastFree !== undefined && this.lastFree >= CHECK_EACH_WRITE_BELOW_BYTES) return Infinity;
    if (this.o.freeBytes !== undefined) {
      // A test's own view of the disk: the last answer it gave.
      return this.lastFree === undefined ? Infinity : this.lastFree - WRITE_MARGIN_BYTES;
    }
    try {
      return freeBytesOfSync(this.o.directory) - WRITE_MARGIN_BYTES;
    } catch {
      // The directory is not there yet (or cannot be looked at): let the write say.
      return Infinity;
    }
  }

  private writeSealedNow(records: readonly EncodableRecord[], failure: string): void {
    try {
      let newest = Date.now();
      if (this.lastExitSegmentMs === null) {
        makeDirectorySync(this.o.directory);
        for (const name of readdirSync(this.o.directory)) {
          const parsed = parseSegmentFileName(name);
          if (parsed !== null && parsed.createdMs >= newest) newest = parsed.createdMs + 1;
        }
      } else if (this.lastExitSegmentMs >= newest) {
        // Written again at exit (an app's own exit listener tracking, event by event): the last
        // segment of ours is the newest to follow; listing the directory each time was quadratic.
        newest = this.lastExitSegmentMs + 1;
      }
      const file = path.join(this.o.directory, newSegmentBase(newest) + SEALED_SUFFIX);
      writeFileAtomicSync(file, encodeFrames(records).buffer, { fsync: this.o.durability === 'fsync' });
      this.lastExitSegmentMs = newest;
    } catch (error) {
      this.o.logger.warn(failure, { error: String(error), events: records.length });
      let bytes = 0;
      for (const r of records) bytes += r.jsonBytes;
      this.o.onUnsaved(records.length, bytes);
    }
  }

  private clearTimers(): void {
    if (this.flushTimer !== null) clearTimeout(this.flushTimer);
    if (this.flushSoon !== null) clearImmediate(this.flushSoon);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.flushTimer = null;
    this.flushSoon = null;
    this.retryTimer = null;
  }

  private async writeGroup(): Promise<void> {
    this.clearTimers();
    if (this.events === 0) return;
    await this.o.ready.catch(() => {});
    const group = this.records.slice(this.head);
    if (group.length === 0) return;
    const flight = { group, from: 0, bytes: this.byteCount };
    this.discard();
    this.inFlight = flight;
    this.lookAtRoomNowAndThen();
    try {
      await this.writeInChunks(flight);
    } finally {
      this.inFlight = null;
    }
  }

  private async writeInChunks(flight: {
    group: readonly EncodableRecord[];
    from: number;
    bytes: number;
  }): Promise<void> {
    const { group } = flight;
    // A group can be tens of thousands of records when the app outruns the disk; it goes out in
    // chunks of about WRITE_CHUNK_BYTES through one scratch buffer, so its pages are touched once
    // for the life of the outbox instead of once a group (see encodeFrames).
    let limit = WRITE_CHUNK_BYTES;
    while (flight.from < group.length) {
      const from = flight.from;
      if (this.lastFree === undefined || this.lastFree < CHECK_EACH_WRITE_BELOW_BYTES) {
        const room = await this.roomForRecords();
        if (room < frameLength(group[from]!))
          return this.giveUp(group.slice(from), noRoomError(room + WRITE_MARGIN_BYTES));
        limit = Math.min(limit, room);
      }
      let to = from;
      let frameBytes = 0;
      let jsonBytes = 0;
      do {
        const r = group[to++]!;
        frameBytes += frameLength(r);
        jsonBytes += r.jsonBytes;
      } while (to < group.length && frameBytes + frameLength(group[to]!) <= limit);
      const chunk = from === 0 && to === group.length ? group : group.slice(from, to);
      this.landedTo = -1;
      const failure = await this.writeChunk(
        chunk,
        jsonBytes,
        () => (this.landedTo = to),
        () => {
          flight.from = to;
          flight.bytes -= jsonBytes;
        },
      );
      this.landedTo = -1;
      if (failure === undefined) {
        this.failing = false;
        continue;
      }
      if (isNoSpace(failure)) {
        this.roomSeq++;
        this.lastFree = 0;
        // A full disk may still take a smaller piece: write what fits beside the margin, whole
        // frames only, so the records left over are as few as can be (retrying the whole group,
        // which grows with every append meanwhile, would never fit again and all of it would be
        // lost at close). Halving as well: the room the file system reports can be wrong (quotas).
        if (chunk.length > 1) {
          limit = Math.max(1, Math.floor(frameBytes / 2));
          continue;
        }
      }
      return this.giveUp(group.slice(from), failure);
    }
  }

  /**
   * Stops this write: `unwritten` waits for the retry. On a full disk the segment is sealed
   * first, so that once its events are delivered it can be deleted and give the room back (a
   * segment still being written is never deleted, and one is sealed only at maxSegmentBytes: on a
   * full disk delivery would free nothing).
   */
  private async giveUp(unwritten: readonly EncodableRecord[], error: unknown): Promise<never> {
    if (isNoSpace(error)) await this.o.writer.sealIfWritten().catch(() => {});
    return this.keepForRetry(unwritten, error);
  }

  /** Once a second at most, off the write's path: keeps `lastFree` current while there is plenty. */
  private lookAtRoomNowAndThen(): void {
    const now = this.monotonicNow();
    if (now - this.lastRoomCheckMs < ROOM_CHECK_INTERVAL_MS) return;
    this.lastRoomCheckMs = now;
    const seq = ++this.roomSeq;
    this.freeBytes().then(
      (free) => {
        // Only the newest look counts: an older, roomier answer must not undo a newer one.
        if (seq === this.roomSeq) this.lastFree = free;
      },
      () => {},
    );
  }

  /** Bytes a write may take now and leave WRITE_MARGIN_BYTES free; Infinity while there is plenty. */
  private async roomForRecords(): Promise<number> {
    let free: number;
    const seq = ++this.roomSeq;
    try {
      free = await this.freeBytes();
    } catch {
      // Cannot tell: write, and let the file system say whether it fits.
      if (seq === this.roomSeq) this.lastFree = Infinity;
      return Infinity;
    }
    if (seq === this.roomSeq) this.lastFree = free;
    this.lastRoomCheckMs = this.monotonicNow();
    return free >= CHECK_EACH_WRITE_BELOW_BYTES ? Infinity : free - WRITE_MARGIN_BYTES;
  }

  private freeBytes(): Promise<number> {
    return (this.o.freeBytes ?? (() => freeBytesOf(this.o.directory)))();
  }

  /** Puts `unwritten` back, in order, ahead of what was appended meanwhile, and tries again later. */
  private keepForRetry(unwritten: readonly EncodableRecord[], error: unknown): never {
    this.inFlight = null;
    this.failing = true;
    this.prepend(unwritten);
    this.o.onOverflow(this.trim());
    // A full disk fails every retry (each second, each group): one warning a minute says so.
    this.unwarnedFailures++;
    const now = this.monotonicNow();
    if (now - this.lastWarnMs >= WRITE_WARN_INTERVAL_MS) {
      this.o.logger.warn('outbox: write failed, will retry', {
        error: String(error),
        failures: this.unwarnedFailures,
        waiting: this.events,
      });
      this.lastWarnMs = now;
      this.unwarnedFailures = 0;
    }
    if (!this.stopped && this.retryTimer === null) {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.flush().catch(() => {});
      }, 1000);
      this.retryTimer.unref();
    }
    throw new OutboxIoError('write', { cause: error });
  }

  /**
   * Writes `chunk`; answers the error when the write failed (nothing of it is then on disk).
   * `written` is called once it is on disk, before `onWritten` hands it to the index.
   */
  private async writeChunk(
    chunk: readonly EncodableRecord[],
    chunkBytes: number,
    landed: () => void,
    written: () => void,
  ): Promise<unknown> {
    let group: WrittenGroup;
    let offsets: number[];
    try {
      // An outbox that could not open keeps its records like any failed write (bounded, counted).
      await this.o.ready;
      this.scratch ??= Buffer.allocUnsafeSlow(WRITE_CHUNK_BYTES);
      const encoded = encodeFrames(chunk, this.scratch);
      offsets = encoded.offsets;
      group = await this.o.writer.write(encoded.buffer, (at) => {
        this.landedChunk = { written: at, frames: { records: chunk, offsets: encoded.offsets } };
        landed();
      });
    } catch (error) {
      this.landedChunk = null;
      return error ?? new Error('write failed');
    }
    // Out of `pendingEvents` (written) and of `landed` in one step: counted once throughout.
    this.landedChunk = null;
    written();
    let minTs = Infinity;
    let maxTs = -Infinity;
    for (const r of chunk) {
      if (r.timestampMs < minTs) minTs = r.timestampMs;
      if (r.timestampMs > maxTs) maxTs = r.timestampMs;
    }
    await this.o.onWritten(
      group,
      { events: chunk.length, bytes: chunkBytes, minTs, maxTs },
      { records: chunk, offsets },
    );
    return undefined;
  }
}
