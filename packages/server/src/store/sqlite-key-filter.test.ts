import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createKeyFilter, keyFilterAdd, keyFilterHas } from './sqlite-key-filter.js';

describe('key filter', () => {
  it('holds every key added (no false negatives) and few it was not given', () => {
    const f = createKeyFilter(1)!;
    const added = Array.from({ length: 50_000 }, () => randomBytes(16));
    for (const k of added) keyFilterAdd(f, 1, k);
    expect(added.every((k) => keyFilterHas(f, 1, k))).toBe(true);
    // 8 Mi bits, 4 hashes, 50 000 keys: about 1 in 30 000 expected.
    let falsePositives = 0;
    for (let i = 0; i < 50_000; i++) if (keyFilterHas(f, 1, randomBytes(16))) falsePositives++;
    expect(falsePositives).toBeLessThan(20);
  });

  it('tells projects apart, and sequential keys (v7 uuids) spread like random ones', () => {
    const f = createKeyFilter(1)!;
    const key = (n: number): Buffer =>
      Buffer.from(`018f0000000070008000${n.toString(16).padStart(12, '0')}`, 'hex');
    for (let n = 0; n < 50_000; n++) keyFilterAdd(f, 1, key(n));
    let otherProject = 0;
    let unseen = 0;
    for (let n = 0; n < 50_000; n++) {
      if (keyFilterHas(f, 2, key(n))) otherProject++;
      if (keyFilterHas(f, 1, key(n + 50_000))) unseen++;
    }
    expect(otherProject).toBeLessThan(20);
    expect(unseen).toBeLessThan(20);
  });

  it('asks for a key at an offset in a larger buffer as for the same bytes alone', () => {
    const f = createKeyFilter(1)!;
    const batch = randomBytes(16 * 50);
    for (let i = 0; i < 50; i += 2) keyFilterAdd(f, 3, batch.subarray(i * 16, i * 16 + 16));
    for (let i = 0; i < 50; i++) {
      expect(keyFilterHas(f, 3, batch, i * 16)).toBe(keyFilterHas(f, 3, batch.subarray(i * 16, i * 16 + 16)));
    }
    for (let i = 0; i < 50; i += 2) expect(keyFilterHas(f, 3, batch, i * 16)).toBe(true);
  });

  it('is off when sized 0', () => {
    expect(createKeyFilter(0)).toBeNull();
  });
});
