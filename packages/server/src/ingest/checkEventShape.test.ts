import { describe, expect, it } from 'vitest';
import { checkEventShape } from './checkEventShape.js';

const limits = { maxEventBytes: 1_000_000, maxPropertiesDepth: 32 };
const event = (text: string) => ({ event: 'e', distinct_id: 'd', properties: { text } });

describe('checkEventShape', () => {
  it('measures an event in UTF-8 bytes, not UTF-16 characters', () => {
    // 600 000 characters, 1 200 000 bytes: over a 1 MB limit.
    expect(checkEventShape(event('é'.repeat(600_000)), limits)).toBe(
      'event larger than 1000000 bytes of JSON (UTF-8)',
    );
    // 150 000 emoji are 300 000 UTF-16 units and 600 000 bytes; 500 000 are 2 000 000 bytes.
    expect(checkEventShape(event('😀'.repeat(150_000)), limits)).toBeNull();
    expect(checkEventShape(event('😀'.repeat(500_000)), limits)).not.toBeNull();
    // Keys count too.
    expect(checkEventShape({ properties: { ['€'.repeat(400_000)]: 1 } }, limits)).not.toBeNull();
    expect(checkEventShape(event('x'.repeat(999_000)), limits)).toBeNull();
    expect(checkEventShape(event('é'.repeat(499_000)), limits)).toBeNull();
    expect(checkEventShape(event('x'.repeat(1_000_000)), limits)).not.toBeNull();
  });

  it('refuses properties nested deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect(checkEventShape({ properties: deep }, limits)).toBe('properties nested deeper than 32 levels');
  });
});
