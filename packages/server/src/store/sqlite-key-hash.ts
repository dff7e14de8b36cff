/**
 * The 32-bit hash of a (project pk, 16-byte event key) pair that both the key filter and the
 * pending-keys table use: murmur3's finaliser over the key's four little-endian words, the
 * project mixed into the first. The worker's copy inside `keyFilterAdd` must compute the same
 * value (it runs from source text, so it cannot import this).
 */
export function keyHash(pk: number, key: Uint8Array, at: number): number {
  return keyHashOfWords(pk, word(key, at), word(key, at + 4), word(key, at + 8), word(key, at + 12));
}

/** `keyHash` of a key already read as its four words (the pending-keys ring keeps them so). */
export function keyHashOfWords(pk: number, w0: number, w1: number, w2: number, w3: number): number {
  let h = mix(w0 ^ Math.imul(pk, 0x9e3779b1));
  h = mix(h ^ w1);
  h = mix(h ^ w2);
  return mix(h ^ w3);
}

/** murmur3's 32-bit finaliser: every input bit moves every output bit. */
export function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return x ^ (x >>> 16);
}

/** The little-endian 32-bit word at `b[i, i + 4)`. */
export function word(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}
