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

function randomBytes(n: number): Uint8Array {
  if (poolOffset + n > pool.length) {
    // One getRandomValues call per 256 UUIDs: the syscall dominates otherwise.
    pool = new Uint8Array(POOL_SIZE);
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const out = pool.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return out;
}

export function uuidv7(nowMs: number = Date.now()): string {
  const r = randomBytes(10);
  let ms = Math.floor(nowMs);
  if (ms > lastMs) {
    lastMs = ms;
    // Start the counter in the lower half so many ids fit in one millisecond.
    counter = ((r[0]! << 8) | r[1]!) & 0x7ff;
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
  const b = new Uint8Array(16);
  // 48-bit timestamp: split because bitwise ops in JS are 32-bit.
  const hi = Math.floor(ms / 0x100000000);
  const lo = ms >>> 0;
  b[0] = (hi >>> 8) & 0xff;
  b[1] = hi & 0xff;
  b[2] = (lo >>> 24) & 0xff;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | ((counter >>> 8) & 0x0f);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (r[2]! & 0x3f);
  for (let i = 9; i < 16; i++) b[i] = r[i - 6]!;
  let s = '';
  for (let i = 0; i < 16; i++) {
    s += HEX[b[i]!];
    if (i === 3 || i === 5 || i === 7 || i === 9) s += '-';
  }
  return s;
}
