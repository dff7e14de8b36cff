import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.js';
import {
  HEADER_BYTES,
  decodePayload,
  encodeFrames,
  findNextHeader,
  payloadIntact,
  readHeader,
} from './frame.js';
import { IntervalSet } from './IntervalSet.js';

describe('crc32c', () => {
  it('matches the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43); // ... of ones
    const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(crc32c(ascending)).toBe(0x46dd794e);
  });

  it('gives the same result in one pass, in pieces, and bytewise', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (bytes, split) => {
        const at = Math.min(split, bytes.length);
        const whole = crc32c(bytes);
        expect(crc32c(bytes, at, bytes.length, crc32c(bytes, 0, at))).toBe(whole);
        let c = 0;
        for (let i = 0; i < bytes.length; i++) c = crc32c(bytes, i, i + 1, c);
        expect(c).toBe(whole);
      }),
    );
  });
});

describe('frames', () => {
  const rec = (uuid: string, json: string, timestampMs: number) => ({
    uuid,
    json,
    timestampMs,
    uuidBytes: Buffer.byteLength(uuid),
    jsonBytes: Buffer.byteLength(json),
  });

  it('round-trips uuid, json (any UTF-8) and timestamp', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            uuid: fc.string({ minLength: 1, maxLength: 40 }),
            json: fc.string({ unit: 'grapheme' }),
            ts: fc.double({ noNaN: true }),
          }),
          {
            minLength: 1,
            maxLength: 10,
          },
        ),
        (items) => {
          const { buffer, offsets } = encodeFrames(items.map((i) => rec(i.uuid, i.json, i.ts)));
          items.forEach((item, k) => {
            const header = readHeader(buffer, offsets[k]!);
            expect(header).not.toBeNull();
            expect(payloadIntact(buffer, offsets[k]!, header!)).toBe(true);
            expect(decodePayload(buffer, offsets[k]!, header!)).toEqual({ uuid: item.uuid, json: item.json });
            expect(Object.is(header!.timestampMs, item.ts)).toBe(true);
          });
        },
      ),
    );
  });

  it('writes the same bytes into a scratch buffer as into a fresh one, ASCII or not', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            uuid: fc.string({ minLength: 1, maxLength: 40 }),
            json: fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' })),
            ts: fc.double({ noNaN: true }),
          }),
          { minLength: 1, maxLength: 10 },
        ),
        fc.nat(2000),
        (items, scratchBytes) => {
          const records = items.map((i) => rec(i.uuid, i.json, i.ts));
          const fresh = encodeFrames(records);
          const scratch = Buffer.alloc(scratchBytes, 0xaa);
          const reused = encodeFrames(records, scratch);
          expect(Buffer.compare(reused.buffer, fresh.buffer)).toBe(0);
          expect(reused.offsets).toEqual(fresh.offsets);
          // Into the scratch when it is large enough (a view of its start), else a buffer of its own.
          expect(reused.buffer.buffer === scratch.buffer).toBe(scratchBytes >= fresh.buffer.length);
          records.forEach((r, k) => {
            const header = readHeader(reused.buffer, reused.offsets[k]!)!;
            expect(decodePayload(reused.buffer, reused.offsets[k]!, header)).toEqual({
              uuid: r.uuid,
              json: r.json,
            });
          });
        },
      ),
    );
  });

  it('detects any single flipped bit in the header or the payload', () => {
    const { buffer } = encodeFrames([rec('u-1', '{"a":"hello"}', 12345)]);
    for (let byte = 0; byte < buffer.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = Buffer.from(buffer);
        copy[byte] = copy[byte]! ^ (1 << bit);
        const header = readHeader(copy, 0);
        expect(header === null || !payloadIntact(copy, 0, header)).toBe(true);
      }
    }
  });

  it('finds the next header after damage', () => {
    const { buffer, offsets } = encodeFrames([
      rec('a', '{"x":1}', 1),
      rec('b', '{"y":2}', 2),
      rec('c', '{"z":3}', 3),
    ]);
    buffer[offsets[1]! + 2] = 9; // break b's version byte
    expect(readHeader(buffer, offsets[1]!)).toBeNull();
    expect(findNextHeader(buffer, offsets[1]!, buffer.length)).toBe(offsets[2]);
    expect(findNextHeader(buffer, offsets[2]! + 1, buffer.length)).toBe(-1);
    expect(readHeader(buffer.subarray(0, HEADER_BYTES - 1), 0)).toBeNull();
  });
});

describe('IntervalSet', () => {
  it('behaves like a set of bytes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ add: fc.boolean(), s: fc.nat(60), len: fc.integer({ min: 0, max: 20 }) }), {
          maxLength: 30,
        }),
        fc.nat(80),
        (ops, probe) => {
          const set = new IntervalSet();
          const model = new Set<number>();
          for (const op of ops) {
            if (op.add) set.add(op.s, op.s + op.len);
            else set.remove(op.s, op.s + op.len);
            for (let i = op.s; i < op.s + op.len; i++) {
              if (op.add) model.add(i);
              else model.delete(i);
            }
          }
          expect(set.covers(probe, probe + 1)).toBe(model.has(probe));
          let end = probe;
          while (model.has(end)) end++;
          expect(set.skip(probe)).toBe(end);
          expect(set.coveredWithin(0, 100)).toBe(model.size);
          const flat = set.toJSON();
          for (let i = 2; i < flat.length; i += 2) expect(flat[i]!).toBeGreaterThan(flat[i - 1]!); // disjoint, not touching
          expect(IntervalSet.fromJSON(flat).toJSON()).toEqual(flat);
        },
      ),
    );
  });

  it('ignores malformed stored ranges', () => {
    expect(IntervalSet.fromJSON([5, 2, 'x', 3, -1, 4, 10, 20]).toJSON()).toEqual([10, 20]);
    expect(IntervalSet.fromJSON({}).size).toBe(0);
  });
});
