import { describe, expect, it } from 'vitest';
import { uuidv7 } from './uuidv7.js';

const SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('uuidv7', () => {
  it('has the RFC 9562 version and variant and encodes the millisecond', () => {
    const ms = 1_700_000_000_123;
    const id = uuidv7(ms);
    expect(id).toMatch(SHAPE);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBeGreaterThanOrEqual(ms);
  });

  it('is strictly increasing within one millisecond and across a clock step back', () => {
    const ids: string[] = [];
    for (let i = 0; i < 10_000; i++) ids.push(uuidv7(1_800_000_000_000));
    ids.push(uuidv7(1_799_999_999_000));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(SHAPE);
  });
});

describe('uuidv7: random bits', () => {
  it('spends fresh random bytes on every id, across pool refills', () => {
    const tails = new Set<string>();
    for (let i = 0; i < 5_000; i++) tails.add(uuidv7(1_700_000_000_000).slice(19));
    expect(tails.size).toBe(5_000);
  });

  it('writes the timestamp big-endian in the first 48 bits', () => {
    // Later than any clock other tests used: the generator never goes back in time.
    const ms = Date.UTC(2200, 0, 1);
    const id = uuidv7(ms);
    expect(Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
  });
});
