import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DropListeners, normalizeRecord, utf8Length } from './records.js';

describe('utf8Length', () => {
  it('equals the length TextEncoder produces, for any string (lone surrogates included)', () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(utf8Length(s)).toBe(encoder.encode(s).length);
      }),
    );
    for (const s of ['', 'abc', 'é', '€', '😀', '\ud800', '\udc00x', 'a\ud83d'])
      expect(utf8Length(s)).toBe(encoder.encode(s).length);
  });
});

describe('normalizeRecord', () => {
  it('keeps valid records as they are, fixes a missing timestamp, refuses the rest', () => {
    const ok = { uuid: 'u', json: '{}', timestampMs: 5 };
    expect(normalizeRecord(ok, 9)).toBe(ok);
    expect(normalizeRecord({ uuid: 'u', json: '{}', timestampMs: Infinity }, 9)).toEqual({
      uuid: 'u',
      json: '{}',
      timestampMs: 9,
    });
    for (const bad of [
      null,
      1,
      'x',
      {},
      { uuid: 'u' },
      { uuid: 'u', json: 1 },
      { uuid: '', json: '{}' },
      { uuid: 'x'.repeat(256), json: '{}' },
    ]) {
      expect(normalizeRecord(bad, 0)).toBeNull();
    }
  });
});

describe('DropListeners', () => {
  it('skips empty drops, survives throwing listeners, and unsubscribes each subscription once', () => {
    const drops = new DropListeners();
    const seen: number[] = [];
    const listener = (d: { count: number }): void => void seen.push(d.count);
    const off1 = drops.add(listener);
    drops.add(listener);
    drops.add(() => {
      throw new Error('bad listener');
    });
    drops.add('not a function' as never);
    drops.emit('overflow', 0);
    drops.emit('overflow', 2);
    off1();
    off1();
    drops.emit('overflow', 3);
    expect(seen).toEqual([2, 2, 3]);
  });
});
