import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyFilter, keyFilterAdd, keyFilterHas } from './sqlite-key-filter.js';
import { keyHash, keyHashOfWords, word } from './sqlite-key-hash.js';

describe('keyHash', () => {
  it('reads the key at its offset, as the words the pending-keys ring keeps', () => {
    const keys = randomBytes(16 * 8);
    for (let i = 0; i < 8; i++) {
      const at = i * 16;
      const h = keyHash(7, keys, at);
      expect(h).toBe(keyHash(7, Uint8Array.from(keys.subarray(at, at + 16)), 0));
      expect(h).toBe(
        keyHashOfWords(7, word(keys, at), word(keys, at + 4), word(keys, at + 8), word(keys, at + 12)),
      );
    }
  });

  it('depends on the project and on every word of the key', () => {
    const key = randomBytes(16);
    const h = keyHash(1, key, 0);
    expect(keyHash(2, key, 0)).not.toBe(h);
    for (let byte = 0; byte < 16; byte += 4) {
      const other = Uint8Array.from(key);
      other[byte] ^= 1;
      expect(keyHash(1, other, 0)).not.toBe(h);
    }
  });

  it("is the hash keyFilterAdd's own copy computes (the worker cannot import it)", () => {
    // Each key alone in a fresh filter: the one block keyFilterAdd set is the block keyHash names.
    const f = createKeyFilter(1)!;
    const blocks = (f.length - 16) / 16;
    for (let n = 0; n < 200; n++) {
      f.fill(0);
      const key = randomBytes(16);
      keyFilterAdd(f, 3, key);
      const block = 16 + (keyHash(3, key, 0) & (blocks - 1)) * 16;
      const set: number[] = [];
      for (let w = 16; w < f.length; w++) if (f[w] !== 0) set.push(w);
      expect(set.length).toBeGreaterThan(0);
      expect(set.every((w) => w >= block && w < block + 16)).toBe(true);
      expect(keyFilterHas(f, 3, key)).toBe(true);
    }
  });
});
