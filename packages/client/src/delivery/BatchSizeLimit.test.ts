import { describe, expect, it } from 'vitest';
import { BatchSizeLimit, REFUSED_SIZE_MEMORY_MS } from './BatchSizeLimit.js';

/** Sizes in proportion, as for events of one size: 100 bytes each. */
const size = (events: number) => ({ events, bytes: events * 100 });

describe('BatchSizeLimit', () => {
  it('has no limit of its own until a 413', () => {
    const limit = new BatchSizeLimit();
    limit.accepted(size(500));
    expect(limit.current(0)).toEqual({ events: Infinity, bytes: Infinity });
  });

  it('halves on a 413, then grows at most once, toward and never to the refused size', () => {
    const limit = new BatchSizeLimit();
    limit.tooLarge(size(320), 0);
    expect(limit.current(0)).toEqual(size(160));
    limit.tooLarge(size(160), 0);
    limit.tooLarge(size(80), 0);
    expect(limit.current(0)).toEqual(size(40));
    // A small batch (a quiet moment) says nothing about the limit.
    limit.accepted(size(5));
    expect(limit.current(0)).toEqual(size(40));
    // A full one lets it probe halfway to what was refused...
    limit.accepted(size(40));
    expect(limit.current(0)).toEqual(size(60));
    // ...which is refused: back to what passed, for good.
    limit.tooLarge(size(60), 0);
    expect(limit.current(0)).toEqual(size(40));
    for (let i = 0; i < 1_000; i++) limit.accepted(size(40));
    expect(limit.current(0)).toEqual(size(40));
  });

  it('a probe that passes is kept; no further growth', () => {
    const limit = new BatchSizeLimit();
    limit.tooLarge(size(400), 0);
    limit.accepted(size(200));
    expect(limit.current(0)).toEqual(size(300));
    for (let i = 0; i < 1_000; i++) limit.accepted(size(300));
    expect(limit.current(0)).toEqual(size(300));
  });

  it('a batch refused while a smaller one passed keeps the size that passed (not half of the refused one)', () => {
    const limit = new BatchSizeLimit();
    limit.tooLarge(size(400), 0);
    limit.accepted(size(200));
    limit.tooLarge(size(300), 0);
    expect(limit.current(0)).toEqual(size(200));
    // Refused in flight from before (larger): changes nothing.
    limit.tooLarge(size(400), 0);
    expect(limit.current(0)).toEqual(size(200));
  });

  it('keeps each dimension apart: large events fill the bytes, not the count', () => {
    const limit = new BatchSizeLimit();
    limit.tooLarge({ events: 10, bytes: 600_000 }, 0);
    expect(limit.current(0)).toEqual({ events: 5, bytes: 300_000 });
  });

  it(`forgets ${REFUSED_SIZE_MEMORY_MS} ms after the last 413`, () => {
    const limit = new BatchSizeLimit();
    limit.tooLarge(size(300), 1_000);
    expect(limit.current(1_000 + REFUSED_SIZE_MEMORY_MS - 1)).toEqual(size(150));
    expect(limit.current(1_000 + REFUSED_SIZE_MEMORY_MS)).toEqual({ events: Infinity, bytes: Infinity });
  });
});
