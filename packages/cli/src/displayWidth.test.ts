import { describe, expect, it } from 'vitest';
import { displayWidth, padToWidth } from './displayWidth.js';

describe('displayWidth', () => {
  it('counts terminal columns, not UTF-16 units', () => {
    expect(displayWidth('plain')).toBe(5);
    expect(displayWidth('テレメトリ')).toBe(10);
    expect(displayWidth('cafe\u0301')).toBe(4);
    expect(displayWidth('📈')).toBe(2);
  });

  it('pads to a width in columns, and never cuts', () => {
    expect(padToWidth('テレメトリ', 12)).toBe('テレメトリ  ');
    expect(padToWidth('cafe\u0301', 6)).toBe('cafe\u0301  ');
    expect(padToWidth('テレメトリ', 4)).toBe('テレメトリ');
  });
});
