import { describe, expect, it } from 'vitest';
import { detectPlatform, detectPlatformName } from './detect.js';

describe('detectPlatform', () => {
  it('names the platform from the globals: a page wins over a process shim', () => {
    expect(detectPlatformName({ window: {}, document: {}, process: { versions: { node: '20.0.0' } } })).toBe(
      'browser',
    );
    expect(detectPlatformName({ process: { versions: { node: '20.0.0' } } })).toBe('node');
    expect(detectPlatformName({ window: {} })).toBe('other');
    expect(detectPlatformName({ process: { versions: {} } })).toBe('other');
    expect(detectPlatformName({})).toBe('other');
  });

  it('gives the Node platform under Node', () => {
    const p = detectPlatform();
    expect(p.name).toBe('node');
    expect(p.sendOnUnload).toBeNull();
  });
});
