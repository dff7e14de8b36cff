import { afterEach, describe, expect, it, vi } from 'vitest';
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

describe('uuidv7: layout', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it('writes every field from its own bytes: timestamp, version and counter, variant, random', async () => {
    // A fresh module (an empty pool) that draws the bytes 0, 1, 2, ... : each hex pair of the id
    // names the pool byte it came from, so a digit written from the wrong byte or place shows.
    vi.resetModules();
    vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation((array) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = i & 0xff;
      return array;
    });
    const { uuidv7: fresh } = await import('./uuidv7.js');
    const ms = Date.UTC(2031, 4, 6, 7, 8, 9, 123);
    const hex = ms.toString(16).padStart(12, '0');
    // Counter from bytes 0-1 (0x0001, lower half); variant 10 over byte 2 (0x02); bytes 3-9 random.
    expect(fresh(ms)).toBe(`${hex.slice(0, 8)}-${hex.slice(8)}-7001-8203-040506070809`);
    // Same millisecond: the counter advances; the next ten bytes (10-19) are drawn.
    expect(fresh(ms)).toBe(`${hex.slice(0, 8)}-${hex.slice(8)}-7002-8c0d-0e0f10111213`);
    // A later millisecond restarts the counter from bytes 20-21 (0x1415 & 0x7ff = 0x415).
    const next = (ms + 1).toString(16).padStart(12, '0');
    expect(fresh(ms + 1)).toBe(`${next.slice(0, 8)}-${next.slice(8)}-7415-9617-18191a1b1c1d`);
  });
});

describe('uuidv7: a bad time given', () => {
  const uuidMs = (id: string): number => Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

  it('NaN, a negative time or one past 48 bits: the id carries the real clock, and later ids are not pinned', () => {
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY, Date.now() * 1000, 2 ** 48]) {
      const before = Date.now();
      const id = uuidv7(bad);
      expect(id).toMatch(SHAPE);
      expect(uuidMs(id)).toBeGreaterThanOrEqual(before - 24 * 60 * 60 * 1000);
      expect(uuidMs(id)).toBeLessThan(2 ** 47);
    }
  });

  it('a time far ahead once (a clock gone wrong) does not pin the ids made with the real clock after it', () => {
    uuidv7(Date.UTC(5000, 0, 1));
    const now = Date.now();
    const id = uuidv7(now);
    expect(uuidMs(id)).toBe(now);
  });
});

describe('uuidv7: a clock stepped back more than a day, then set right', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.resetModules();
  });

  it('ids made after the clock came back sort after those made before the step', async () => {
    // A fresh module (the generator's state is the process's) drawing the bytes 255, 254, ...:
    // the counter a starts from is higher than the one a new millisecond would start e from.
    vi.resetModules();
    vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation((array) => {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - (i & 0xff);
      return array;
    });
    const { uuidv7: fresh } = await import('./uuidv7.js');
    const T = Date.UTC(2031, 4, 6, 7, 8, 9, 123);
    const HOUR = 3_600_000;
    const steps: [string, number][] = [
      ['a', T],
      ['b', T - HOUR],
      ['c', T - 24 * HOUR - 60_000],
      ['d', T - 48 * HOUR],
      ['e', T],
      ['f', T + 1],
    ];
    const made: { name: string; id: string }[] = [];
    for (const [name, ms] of steps) for (let i = 0; i < 3; i++) made.push({ name, id: fresh(ms) });
    const sorted = [...made].sort((x, y) => (x.id < y.id ? -1 : 1)).map((m) => m.name);
    // c and d follow the clock back (their time is a day earlier): before everything else. The
    // ids from e on sort after a's and b's, which they were made after.
    expect(sorted.join('')).toBe('cccdddaaabbbeeefff');
    expect(new Set(made.map((m) => m.id)).size).toBe(made.length);
    for (const { id } of made) expect(id).toMatch(SHAPE);
  });
});
