import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';

/** Bit by bit, straight from the definition: the reference the table forms must agree with. */
function reference(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    c ^= bytes[i]!;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('agrees with the definition at every alignment and length, inside a larger buffer', () => {
    const memory = new Uint8Array(1_200);
    for (let i = 0; i < memory.length; i++) memory[i] = (i * 7_919 + 13) & 0xff;
    for (const offset of [0, 1, 2, 3, 5, 8]) {
      // A view that does not start at the beginning of its ArrayBuffer, as Buffers from the pool.
      const view = new Uint8Array(memory.buffer, offset, memory.length - offset);
      for (const start of [0, 1, 2, 3, 7]) {
        for (const length of [0, 1, 7, 8, 63, 64, 65, 100, 310, 1_000]) {
          expect(crc32c(view, start, start + length)).toBe(reference(view, start, start + length));
        }
      }
    }
  });

  it('continues over more bytes from a previous result', () => {
    const bytes = Buffer.from('a'.repeat(500) + 'b'.repeat(77));
    const whole = crc32c(bytes);
    for (const cut of [1, 64, 200, 499, 576]) {
      expect(crc32c(bytes, cut, bytes.length, crc32c(bytes, 0, cut))).toBe(whole);
    }
  });
});
