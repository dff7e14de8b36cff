/**
 * A Bloom filter of the (project, key) pairs in SQLite's `events` table, shared between the
 * expander worker (which fills it) and the store thread (which asks it), in a
 * SharedArrayBuffer. With it, checking a batch of new keys against `events` before
 * acknowledging costs a few memory reads instead of one index lookup per key, which with random
 * (v4) uuids is one page of the uniqueness index per key, read again after every expansion
 * commit (the store's page cache is dropped whenever the worker's connection commits).
 *
 * "Not in the filter" must mean "not in `events`", so the store trusts the filter only while
 * it is complete: word 0 holds the state. The worker builds it at start (scanning `events`),
 * adds every key it expands before committing, and turns it off for good when it finds rows
 * expanded by anyone else (another connection on the same data directory). Deleted events
 * stay in the filter: a false positive only sends that key to the SQL check.
 *
 * `keyFilterAdd` and `keyFilterHas` refer to nothing outside their bodies: the worker runs
 * from source text and receives `keyFilterAdd` the same way.
 */

/** Word 0: the worker is still scanning `events`; ask SQLite. */
export const FILTER_BUILDING = 0;
/** Word 0: complete; a key it does not hold is not in `events`. */
export const FILTER_READY = 1;
/** Word 0: someone else expanded rows; no longer complete, ask SQLite. */
export const FILTER_OFF = 2;

/** A filter of `mib` MiB (a power of two of bits), state BUILDING; null when `mib` is 0. */
export function createKeyFilter(mib: number): Int32Array | null {
  if (mib === 0) return null;
  return new Int32Array(new SharedArrayBuffer(4 + mib * 1024 * 1024));
}

export function keyFilterAdd(f: Int32Array, pk: number, key: Uint8Array): void {
  const mask = (f.length - 1) * 32 - 1;
  const mix = (x: number): number => {
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    return x ^ (x >>> 16);
  };
  const w = (i: number): number => key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
  let h = mix(w(0) ^ Math.imul(pk, 0x9e3779b1));
  h = mix(h ^ w(4));
  h = mix(h ^ w(8));
  h = mix(h ^ w(12));
  const step = mix(h ^ 0x5bd1e995) | 1;
  for (let i = 0; i < 4; i++) {
    const b = (h + Math.imul(i, step)) & mask;
    Atomics.or(f, 1 + (b >>> 5), 1 << (b & 31));
  }
}

/** Asks for the 16-byte key at `key[at, at + 16)`. */
export function keyFilterHas(f: Int32Array, pk: number, key: Uint8Array, at = 0): boolean {
  const mask = (f.length - 1) * 32 - 1;
  const mix = (x: number): number => {
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    return x ^ (x >>> 16);
  };
  const w = (i: number): number =>
    key[at + i]! | (key[at + i + 1]! << 8) | (key[at + i + 2]! << 16) | (key[at + i + 3]! << 24);
  let h = mix(w(0) ^ Math.imul(pk, 0x9e3779b1));
  h = mix(h ^ w(4));
  h = mix(h ^ w(8));
  h = mix(h ^ w(12));
  const step = mix(h ^ 0x5bd1e995) | 1;
  for (let i = 0; i < 4; i++) {
    const b = (h + Math.imul(i, step)) & mask;
    if ((Atomics.load(f, 1 + (b >>> 5)) & (1 << (b & 31))) === 0) return false;
  }
  return true;
}
