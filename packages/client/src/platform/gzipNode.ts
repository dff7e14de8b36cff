import { Buffer } from 'node:buffer';
import { promisify } from 'node:util';
import { gzip as gzipCallback, gzipSync } from 'node:zlib';
import { type RequestBody, bodyLength, bodyText, bodyUtf8Length } from './jsonParts.js';

const gzipAsync = promisify(gzipCallback);

/**
 * Level 1 (fastest): on event JSON it came out under 2 % larger than the default level 6, at
 * about half the CPU. Bodies up to `SYNC_GZIP_MAX_BYTES` are compressed on the spot (about
 * 65 µs for a 40 KB batch of 100 events): handing them to the thread pool cost 3-4x that in
 * CPU (measured 270-430 µs), which capped how fast a backlog drains. Larger bodies (up to
 * `batchBytes`, 512 KiB) go to the thread pool, so no body blocks the loop for long.
 */
const GZIP_OPTIONS = { level: 1 } as const;
export const SYNC_GZIP_MAX_BYTES = 64 * 1024;

/** Size of a reusable input buffer: a default batch (512 KiB of events) and its envelope fit. */
export const GZIP_SCRATCH_BYTES = 1024 * 1024;
/** Input buffers kept between requests: one per send usually in flight at once, at most. */
const MAX_KEPT_SCRATCH = 2;

/**
 * Gzip for request bodies. The body's UTF-8 bytes (a batch's pieces written one after another,
 * see `JsonParts`) go into a reused input buffer: a fresh one
 * per request (`Buffer.from(body)`) cost more than the compression's own main-thread share,
 * about 1 µs an event, nearly all of it the first touch of its pages (measured: 130 KB of event
 * JSON into a fresh buffer ~550 µs, into a buffer already touched ~10 µs).
 */
export function createNodeGzip(): (body: RequestBody) => Promise<Uint8Array> {
  const kept: Buffer[] = [];
  return async (body) => {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit, so a body this short fits.
    const fits = bodyLength(body) * 3 <= GZIP_SCRATCH_BYTES || bodyUtf8Length(body) <= GZIP_SCRATCH_BYTES;
    const scratch = fits ? (kept.pop() ?? Buffer.allocUnsafeSlow(GZIP_SCRATCH_BYTES)) : null;
    try {
      const input =
        scratch === null
          ? Buffer.from(bodyText(body), 'utf8')
          : scratch.subarray(0, writeBody(scratch, body));
      const output =
        input.byteLength <= SYNC_GZIP_MAX_BYTES
          ? gzipSync(input, GZIP_OPTIONS)
          : await gzipAsync(input, GZIP_OPTIONS);
      return new Uint8Array(output.buffer, output.byteOffset, output.byteLength);
    } finally {
      // Only once the compression is done with it (the thread pool reads it meanwhile).
      if (scratch !== null && kept.length < MAX_KEPT_SCRATCH) kept.push(scratch);
    }
  };
}

/** Writes the body's UTF-8 bytes at the start of `buffer` (it fits); answers how many. */
function writeBody(buffer: Buffer, body: RequestBody): number {
  if (typeof body === 'string') return buffer.write(body, 0, 'utf8');
  let at = buffer.write(body.head, 0, 'utf8');
  for (let i = 0; i < body.items.length; i++) {
    if (i > 0) buffer[at++] = COMMA;
    at += buffer.write(body.items[i]!, at, 'utf8');
  }
  return at + buffer.write(body.tail, at, 'utf8');
}

const COMMA = 0x2c;
