/**
 * The stable replacement for `redaction.hash: true`: `[HASH:<16 hex>]`, the same for the same
 * value and key, so redacted values can still be counted and joined.
 *
 * Strength: two keyed FNV-1a 32-bit passes (64 bits of output). Synchronous and browser-safe,
 * which rules out WebCrypto's async SHA-256. It is NOT a cryptographic hash: with the key,
 * low-entropy values (emails, phone numbers, SSNs) can be recovered by guessing; without the
 * key, guessing needs the key too. Use a secret per-project key and treat the output as
 * pseudonymous, not anonymous.
 */
export function keyedHash(value: string, key: string): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ 0x5bd1e995;
  const s = `${key}\u0000${value}\u0000${key}`;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x01000193) ^ (h1 >>> 15);
  }
  // Final avalanche (murmur3 fmix32) so close inputs differ in every output digit.
  return `[HASH:${hex(fmix(h1 ^ h2))}${hex(fmix(h2 + h1))}]`;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hex(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}
