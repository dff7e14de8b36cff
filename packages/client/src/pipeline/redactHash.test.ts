import { describe, expect, it } from 'vitest';
import { keyedHash } from './redactHash.js';

describe('keyedHash', () => {
  it('is stable for a value and key, and differs by value and by key', () => {
    const a = keyedHash('alice@example.com', 'k1');
    expect(a).toMatch(/^\[HASH:[0-9a-f]{16}\]$/);
    expect(keyedHash('alice@example.com', 'k1')).toBe(a);
    expect(keyedHash('alice@example.con', 'k1')).not.toBe(a);
    expect(keyedHash('alice@example.com', 'k2')).not.toBe(a);
  });

  it('has no collisions over 20 000 near-identical values', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(keyedHash(`user${i}@example.com`, 'k'));
    expect(seen.size).toBe(20_000);
  });
});
