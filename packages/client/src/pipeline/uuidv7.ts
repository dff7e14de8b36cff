/**
 * RFC 9562 UUIDv7: 48-bit Unix ms timestamp, version 7, 12-bit rand_a used as a
 * monotonic counter within one millisecond (method 1 of RFC 9562 §6.2), variant 10,
 * 62 random bits. Monotonic within a process even if the clock steps back:
 * the last timestamp is reused and the counter advances.
 */
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const POOL_SIZE = 256 * 8;

let pool = new Uint8Array(0);
let poolOffset = POOL_SIZE;
let lastMs = -1;
let counter = 0;

/** Offset in `pool` of `n` fresh random bytes (refilled when spent). */
function randomOffset(n: number): number {
  if (poolOffset + n > pool.length) {
    // One getRandomValues call per 256 UUIDs: the syscall dominates otherwise.
    pool = new Uint8Array(POOL_SIZE);
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const at = poolOffset;
  poolOffset += n;
  return at;
}

export function uuidv7(nowMs: number = Date.now()): string {
  // Read straight from the pool: no per-id byte arrays (an id per event made them GC work).
  const rp = randomOffset(10);
  const p = pool; // read after randomOffset, which may have refilled it
  let ms = Math.floor(nowMs);
  if (ms > lastMs) {
    lastMs = ms;
    // Start the counter in the lower half so many ids fit in one millisecond.
    counter = ((p[rp]! << 8) | p[rp + 1]!) & 0x7ff;
  } else {
    ms = lastMs;
    counter++;
    if (counter > 0xfff) {
      // Counter exhausted: borrow the next millisecond, as RFC 9562 allows.
      lastMs++;
      ms = lastMs;
      counter = 0;
    }
  }
  // 48-bit timestamp: split because bitwise ops in JS are 32-bit.
  const hi = Math.floor(ms / 0x100000000);
  const lo = ms >>> 0;
  return (
    HEX[(hi >>> 8) & 0xff]! +
    HEX[hi & 0xff]! +
    HEX[(lo >>> 24) & 0xff]! +
    HEX[(lo >>> 16) & 0xff]! +
    '-' +
    HEX[(lo >>> 8) & 0xff]! +
    HEX[lo & 0xff]! +
    '-' +
    HEX[0x70 | ((counter >>> 8) & 0x0f)]! +
    HEX[counter & 0xff]! +
    '-' +
    HEX[0x80 | (p[rp + 2]! & 0x3f)]! +
    HEX[p[rp + 3]!]! +
    '-' +
    HEX[p[rp + 4]!]! +
    HEX[p[rp + 5]!]! +
    HEX[p[rp + 6]!]! +
    HEX[p[rp + 7]!]! +
    HEX[p[rp + 8]!]! +
    HEX[p[rp + 9]!]!
  );
}
