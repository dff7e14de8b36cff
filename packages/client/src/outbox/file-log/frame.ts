import { Buffer } from 'node:buffer';
import { crc32c } from './crc32c.js';

/**
 * How one record is laid out in a segment file (little-endian):
 *
 *   0  u16  magic 0x4F48 ("HO")        16  u32  CRC-32C of uuid + json
 *   2  u8   format version (1)          20  u32  CRC-32C of bytes 0..19 (the header itself)
 *   3  u8   uuid length (UTF-8 bytes)   24  uuid bytes, then json bytes
 *   4  u32  json length (UTF-8 bytes)
 *   8  f64  timestampMs
 *
 * The header has its own checksum so a reader can trust a length before reading the payload,
 * and can find the next record after damage by looking for a header whose checksum holds.
 */
export const FRAME_MAGIC = 0x4f48;
export const FRAME_VERSION = 1;
export const HEADER_BYTES = 24;
export { MAX_UUID_BYTES } from '../records.js';

export interface FrameHeader {
  readonly uuidBytes: number;
  readonly jsonBytes: number;
  readonly timestampMs: number;
  readonly payloadCrc: number;
  /** Header plus payload. */
  readonly frameBytes: number;
}

export interface EncodableRecord {
  readonly uuid: string;
  readonly json: string;
  readonly timestampMs: number;
  /** UTF-8 length of `uuid` (<= 255) and `json`, measured by the caller. */
  readonly uuidBytes: number;
  readonly jsonBytes: number;
}

export function frameLength(r: Pick<EncodableRecord, 'uuidBytes' | 'jsonBytes'>): number {
  return HEADER_BYTES + r.uuidBytes + r.jsonBytes;
}

/**
 * Encodes records back to back into one buffer; `offsets[i]` is where record i starts. With
 * `scratch` large enough, the frames are written into its start and the answer is a view of it,
 * valid until the scratch is used again: a fresh buffer of a group's size costs the first touch
 * of every page (tens of µs a page on a virtual machine), which outweighed the encoding itself.
 */
export function encodeFrames(
  records: readonly EncodableRecord[],
  scratch?: Buffer,
): { buffer: Buffer; offsets: number[] } {
  let total = 0;
  for (const r of records) total += frameLength(r);
  const buffer =
    scratch !== undefined && scratch.length >= total ? scratch.subarray(0, total) : Buffer.allocUnsafe(total);
  const offsets: number[] = new Array(records.length);
  let pos = 0;
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    offsets[i] = pos;
    const payload = pos + HEADER_BYTES;
    writeUtf8(buffer, r.uuid, payload, r.uuidBytes);
    writeUtf8(buffer, r.json, payload + r.uuidBytes, r.jsonBytes);
    buffer.writeUInt16LE(FRAME_MAGIC, pos);
    buffer.writeUInt8(FRAME_VERSION, pos + 2);
    buffer.writeUInt8(r.uuidBytes, pos + 3);
    buffer.writeUInt32LE(r.jsonBytes, pos + 4);
    buffer.writeDoubleLE(r.timestampMs, pos + 8);
    buffer.writeUInt32LE(crc32c(buffer, payload, payload + r.uuidBytes + r.jsonBytes), pos + 16);
    buffer.writeUInt32LE(crc32c(buffer, pos, pos + 20), pos + 20);
    pos = payload + r.uuidBytes + r.jsonBytes;
  }
  return { buffer, offsets };
}

/**
 * A string of as many UTF-8 bytes as characters is ASCII, whose bytes Latin-1 writes alike and
 * at a fraction of the cost of the UTF-8 encoder.
 */
function writeUtf8(buffer: Buffer, text: string, at: number, bytes: number): void {
  buffer.write(text, at, bytes, bytes === text.length ? 'latin1' : 'utf8');
}

/** The header at `buf[pos]`, or null when there is none (wrong magic or version, bad checksum). */
export function readHeader(buf: Uint8Array, pos: number): FrameHeader | null {
  if (pos + HEADER_BYTES > buf.length) return null;
  if (
    buf[pos] !== (FRAME_MAGIC & 0xff) ||
    buf[pos + 1] !== FRAME_MAGIC >>> 8 ||
    buf[pos + 2] !== FRAME_VERSION
  ) {
    return null;
  }
  const view = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (crc32c(view, pos, pos + 20) !== view.readUInt32LE(pos + 20)) return null;
  const uuidBytes = view.readUInt8(pos + 3);
  const jsonBytes = view.readUInt32LE(pos + 4);
  return {
    uuidBytes,
    jsonBytes,
    timestampMs: view.readDoubleLE(pos + 8),
    payloadCrc: view.readUInt32LE(pos + 16),
    frameBytes: HEADER_BYTES + uuidBytes + jsonBytes,
  };
}

/** Whether the payload of the frame at `buf[pos]` (whole frame in `buf`) matches its checksum. */
export function payloadIntact(buf: Uint8Array, pos: number, header: FrameHeader): boolean {
  const start = pos + HEADER_BYTES;
  return crc32c(buf, start, start + header.uuidBytes + header.jsonBytes) === header.payloadCrc;
}

/** The uuid and json of the frame at `buf[pos]` (whole frame in `buf`). */
export function decodePayload(buf: Buffer, pos: number, header: FrameHeader): { uuid: string; json: string } {
  const start = pos + HEADER_BYTES;
  return {
    uuid: buf.toString('utf8', start, start + header.uuidBytes),
    json: buf.toString('utf8', start + header.uuidBytes, start + header.uuidBytes + header.jsonBytes),
  };
}

/**
 * Where the next plausible header starts in `buf[from, end)`, or -1. Used to resynchronise after
 * damage: a candidate must have the magic, the version and a header checksum that holds.
 */
export function findNextHeader(buf: Uint8Array, from: number, end: number): number {
  for (let i = from; i + HEADER_BYTES <= end; i++) {
    if (buf[i] === (FRAME_MAGIC & 0xff) && buf[i + 1] === FRAME_MAGIC >>> 8 && readHeader(buf, i) !== null)
      return i;
  }
  return -1;
}
