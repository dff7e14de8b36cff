import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8LengthOver } from '../outbox/records.js';
import { bodyLength, bodyPieces, bodyText, bodyUtf8Length, bodyUtf8Over } from './jsonParts.js';

const parts = fc.record({
  head: fc.string({ unit: 'grapheme', maxLength: 20 }),
  items: fc.array(fc.string({ unit: 'grapheme', maxLength: 30 }), { maxLength: 8 }),
  tail: fc.string({ unit: 'grapheme', maxLength: 20 }),
});

describe('JsonParts', () => {
  it('joins as head, the items separated by commas, then tail; lengths and the threshold agree with the joined text', () => {
    fc.assert(
      fc.property(parts, fc.nat(400), (body, limit) => {
        const text = bodyText(body);
        expect(text).toBe(`${body.head}${body.items.join(',')}${body.tail}`);
        expect(bodyPieces(body).join('')).toBe(text);
        expect(bodyLength(body)).toBe(text.length);
        expect(bodyUtf8Length(body)).toBe(Buffer.byteLength(text));
        expect(bodyUtf8Over(body, limit)).toBe(utf8LengthOver(text, limit));
        expect(bodyUtf8Over(text, limit)).toBe(utf8LengthOver(text, limit));
      }),
    );
  });

  it('a batch of no items is head and tail alone', () => {
    const body = { head: '{"batch":[', items: [], tail: ']}' };
    expect(bodyText(body)).toBe('{"batch":[]}');
    expect(bodyLength(body)).toBe(12);
    expect(bodyUtf8Length(body)).toBe(12);
  });
});
