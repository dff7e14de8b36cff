import { Buffer } from 'node:buffer';
import { type FrameHeader, HEADER_BYTES, findNextHeader, payloadIntact, readHeader } from './frame.js';
import type { SegmentSource } from './segmentFile.js';

/**
 * Reads the frames of one segment file in order, in large chunks, calling back for each intact
 * frame while the whole frame is in memory. This is the segment reader: the index, claims and
 * drops all go through it, so damage is handled the same way everywhere.
 *
 * Damage (`sealed: true`, a segment nobody writes any more):
 * - a frame whose header holds but whose payload checksum fails is one corrupt record, skipped;
 * - bytes where no valid header is found are skipped up to the next valid header;
 * - a frame that runs past the end of the file is a torn tail.
 * Every damaged range is returned so the caller can drop it (and report it) for good.
 *
 * A live segment (`sealed: false`) may have a writer in the middle of a write, so the scan
 * stops at the first incomplete or bad frame and reports where, without calling it damage.
 */
export interface ScanOptions {
  /** Where to start; must be a frame boundary. */
  readonly from: number;
  /** Stop before this offset (default: the file's size). */
  readonly until?: number;
  /** Given a position, the next position worth reading (past ranges the caller has no use for). */
  readonly skip?: (pos: number) => number;
  readonly sealed: boolean;
  /** Check each payload's checksum (always true when reading records to send). */
  readonly verifyPayload: boolean;
  /** Bytes read per I/O; default 1 MiB. */
  readonly chunkBytes?: number;
}

export interface DamagedRange {
  readonly start: number;
  readonly end: number;
  /** The header when it was intact (only the payload failed its checksum). */
  readonly header: FrameHeader | null;
}

export interface ScanResult {
  /** Every frame before this offset was examined (or skipped on purpose). */
  readonly end: number;
  readonly fileSize: number;
  readonly damaged: DamagedRange[];
  /** The callback asked to stop. */
  readonly stopped: boolean;
}

/** Return false to stop after this frame. `buf[at]` is where the frame starts in `buf`. */
export type FrameCallback = (offset: number, header: FrameHeader, buf: Buffer, at: number) => boolean | void;

export async function scanSegment(
  handle: SegmentSource,
  options: ScanOptions,
  onFrame: FrameCallback,
): Promise<ScanResult> {
  const fileSize = (await handle.stat()).size;
  const limit = Math.min(options.until ?? fileSize, fileSize);
  const skip = options.skip ?? ((p: number) => p);
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  const damaged: DamagedRange[] = [];
  let buf = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(limit - options.from, HEADER_BYTES)));
  let pos = options.from;

  outer: while (pos < limit) {
    pos = skip(pos);
    if (pos >= limit) break;
    const n = await readAt(handle, buf, pos, Math.min(buf.length, limit - pos));
    if (n === 0) break;
    const view = buf.subarray(0, n);
    let i = 0;
    while (i < n) {
      const abs = pos + i;
      const next = skip(abs);
      if (next !== abs) {
        if (next >= pos + n) {
          pos = next;
          continue outer;
        }
        i = next - pos;
        continue;
      }
      if (n - i < HEADER_BYTES) {
        if (abs + HEADER_BYTES > limit) {
          if (!options.sealed) return { end: abs, fileSize, damaged, stopped: false };
          damaged.push({ start: abs, end: limit, header: null });
          pos = limit;
          continue outer;
        }
        pos = abs; // re-read with the header at the start of the buffer
        continue outer;
      }
      const header = readHeader(view, i);
      if (header === null) {
        if (!options.sealed) return { end: abs, fileSize, damaged, stopped: false };
        const resume = await findResumePoint(handle, abs + 1, limit);
        damaged.push({ start: abs, end: resume, header: null });
        pos = resume;
        continue outer;
      }
      if (abs + header.frameBytes > limit) {
        if (!options.sealed) return { end: abs, fileSize, damaged, stopped: false };
        damaged.push({ start: abs, end: limit, header: null });
        pos = limit;
        continue outer;
      }
      if (i + header.frameBytes > n) {
        // The frame crosses the end of this chunk: read again from its start, big enough for it.
        if (header.frameBytes > buf.length) buf = Buffer.allocUnsafe(header.frameBytes);
        pos = abs;
        continue outer;
      }
      if (options.verifyPayload && !payloadIntact(view, i, header)) {
        if (!options.sealed) return { end: abs, fileSize, damaged, stopped: false };
        damaged.push({ start: abs, end: abs + header.frameBytes, header });
        i += header.frameBytes;
        continue;
      }
      const keepGoing = onFrame(abs, header, view, i);
      i += header.frameBytes;
      if (keepGoing === false) return { end: pos + i, fileSize, damaged, stopped: true };
    }
    pos += n;
  }
  return { end: Math.max(pos, options.from), fileSize, damaged, stopped: false };
}

/** Reads into `buf` from file offset `position`; answers the bytes read (short only at EOF). */
async function readAt(handle: SegmentSource, buf: Buffer, position: number, length: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** The offset of the next valid header at or after `from`, or `limit` when there is none. */
async function findResumePoint(handle: SegmentSource, from: number, limit: number): Promise<number> {
  const buf = Buffer.allocUnsafe(256 * 1024);
  let pos = from;
  while (pos < limit) {
    const n = await readAt(handle, buf, pos, Math.min(buf.length, limit - pos));
    if (n < HEADER_BYTES) break;
    const found = findNextHeader(buf.subarray(0, n), 0, n);
    if (found >= 0) return pos + found;
    // Overlap by a header's length so a header split across two reads is still found.
    pos += n - HEADER_BYTES + 1;
  }
  return limit;
}
