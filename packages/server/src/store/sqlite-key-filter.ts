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
 * The bits are read and written without Atomics: the worker is their only writer, it sets
 * bits and never clears them, and the store reads them only after an Atomics operation that
 * saw what the worker published after writing them (the state in word 0, set with
 * compareExchange once the scan is done; the expanded ids it publishes once a chunk's keys
 * are in, see ExpanderWorkerData.filterThrough). So every bit the store relies on
 * happens-before its read, and a read racing with the worker's later writes sees a word
 * holding at least those bits. Atomics.or took 6-8% of the worker's time under perf (a call
 * into V8's builtins and a locked instruction each, four a key); Atomics.load, a builtin call,
 * about doubled the cost of reading a word.
 *
 * `keyFilterAdd` refers to nothing outside its body: the worker runs from source text and
 * receives it the same way. Its `h` is `keyHash` (sqlite-key-hash.ts), written out again; a test
 * holds the two equal.
 */

import { keyHash, mix } from './sqlite-key-hash.js';

/** Word 0: the worker is still scanning `events`; ask SQLite. */
export const FILTER_BUILDING = 0;
/** Word 0: complete; a key it does not hold is not in `events`. */
export const FILTER_READY = 1;
/** Word 0: someone else expanded rows; no longer complete, ask SQLite. */
export const FILTER_OFF = 2;

/** Words before the bits: word 0 is the state; the rest keeps the blocks on cache lines. */
const HEADER_WORDS = 16;

/** A filter of `mib` MiB (a power of two), state BUILDING; null when `mib` is 0. */
export function createKeyFilter(mib: number): Int32Array | null {
  if (mib === 0) return null;
  return new Int32Array(new SharedArrayBuffer(HEADER_WORDS * 4 + mib * 1024 * 1024));
}

/**
 * Adds the 16-byte key at `key[at, at + 16)`. A blocked Bloom filter: a key's four bits are in
 * one block of 512 bits (a 64-byte cache line, aligned: the buffer is page-aligned and the
 * header 64 bytes), chosen by its hash. With the four bits anywhere in the filter, adding a key
 * touched four cache lines of the worker's and asking for a duplicate four of the store
 * thread's; now one each. False positives come a little more often for the same size (blocks
 * fill unevenly): 1 in 1960 new keys against 1 in 2240 with 27 bits a key (10 million stored
 * events in 32 MiB), 1 in 13 for both with 5.4 (50 million), measured.
 */
export function keyFilterAdd(f: Int32Array, pk: number, key: Uint8Array, at = 0): void {
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
  // The block from h's low bits (16 header words before the first), the bits in it from two
  // more mixes (9 bits each).
  const block = 16 + (h & ((f.length - 16) / 16 - 1)) * 16;
  const g = mix(h ^ 0x5bd1e995);
  const set = (b: number): void => {
    f[block + (b >>> 5)]! |= 1 << (b & 31);
  };
  set(g & 511);
  set((g >>> 9) & 511);
  set((g >>> 18) & 511);
  set(mix(g ^ 0x27d4eb2f) & 511);
}

/** Asks for the 16-byte key at `key[at, at + 16)`. */
export function keyFilterHas(f: Int32Array, pk: number, key: Uint8Array, at = 0): boolean {
  const h = keyHash(pk, key, at);
  const block = HEADER_WORDS + (h & ((f.length - HEADER_WORDS) / 16 - 1)) * 16;
  const g = mix(h ^ 0x5bd1e995);
  return (
    hasBit(f, block, g & 511) &&
    hasBit(f, block, (g >>> 9) & 511) &&
    hasBit(f, block, (g >>> 18) & 511) &&
    hasBit(f, block, mix(g ^ 0x27d4eb2f) & 511)
  );
}

/**
 * The indices i of `candidates` whose key `keys[16 i, 16 i + 16)` the filter may hold: the
 * store thread's form of keyFilterHas for a batch. A new key usually fails at its first bit,
 * a cache miss in a filter of tens of MiB (120-180 ns on the reference machine when each waits
 * for the one before). The first bit of every key is read in one pass, reads that do not depend
 * on each other, so the CPU overlaps their misses; only keys it passes are asked further.
 */
export function keyFilterMaybe(
  f: Int32Array,
  pk: number,
  keys: Uint8Array,
  candidates: readonly number[],
): number[] {
  const blocks = (f.length - HEADER_WORDS) / 16;
  const passed: number[] = [];
  for (const i of candidates) {
    const h = keyHash(pk, keys, i * 16);
    if (hasBit(f, HEADER_WORDS + (h & (blocks - 1)) * 16, mix(h ^ 0x5bd1e995) & 511)) passed.push(i);
  }
  return passed.filter((i) => keyFilterHas(f, pk, keys, i * 16));
}

function hasBit(f: Int32Array, block: number, b: number): boolean {
  return (f[block + (b >>> 5)]! & (1 << (b & 31))) !== 0;
}
