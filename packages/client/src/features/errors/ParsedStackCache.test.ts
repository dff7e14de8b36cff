import { describe, expect, it } from 'vitest';
import { isInAppFile } from './isInAppFile.js';
import { copyFrames, ParsedStackCache } from './ParsedStackCache.js';
import { parseStack } from './parseStack.js';

const limits = { maxFrames: 50, maxLineLength: 2048 };
const frames =
  '\n    at handler (/app/src/routes.js:10:5)\n    at next (/app/node_modules/router/index.js:3:1)';

describe('ParsedStackCache', () => {
  it('parses a stack once for every message thrown from the same place', () => {
    let parsed = 0;
    const cache = new ParsedStackCache(10, limits, (file) => {
      parsed++;
      return isInAppFile(file);
    });
    const a = cache.frames(`Error: order 1 failed${frames}`);
    const b = cache.frames(`Error: order 2 failed${frames}`);
    expect(parsed).toBe(2); // one isInApp call per frame, for the first stack only
    expect(b).toEqual(a);
    expect(a).toEqual(parseStack(`Error: order 1 failed${frames}`, limits, isInAppFile));
    expect(cache.size).toBe(1);
  });

  it('shares frozen frames; copyFrames gives writable copies that leave the cache as it was', () => {
    const cache = new ParsedStackCache(10, limits, isInAppFile);
    const a = cache.frames(`Error: x${frames}`);
    expect(cache.frames(`Error: y${frames}`)).toBe(a);
    expect(Object.isFrozen(a) && Object.isFrozen(a[0])).toBe(true);
    const copy = copyFrames(a);
    copy[0]!.file = '[REDACTED]';
    copy.pop();
    const b = cache.frames(`Error: x${frames}`);
    expect(b).toHaveLength(2);
    expect(b[0]!.file).toBe('/app/src/routes.js');
  });

  it('keys the whole stack when the message has lines that read as frames', () => {
    const cache = new ParsedStackCache(10, limits, isInAppFile);
    const tricky = `Error: bad input\n  at /evil/one.js:1:1${frames}`;
    expect(cache.frames(tricky)).toEqual(parseStack(tricky, limits, isInAppFile));
    expect(cache.frames(tricky)).toHaveLength(3);
    // Same frames part, a message without frame-like lines: two frames, not the cached three.
    expect(cache.frames(`Error: fine${frames}`)).toHaveLength(2);
    expect(cache.size).toBe(2);
  });

  it('parses Firefox and Safari stacks whole, and caches them too', () => {
    const cache = new ParsedStackCache(10, limits, isInAppFile);
    const gecko = 'handler@https://app.example/main.js:10:5\n@https://app.example/main.js:20:1';
    expect(cache.frames(gecko)).toEqual(parseStack(gecko, limits, isInAppFile));
    expect(cache.frames(gecko)).toHaveLength(2);
    expect(cache.size).toBe(1);
  });

  it('stays within its capacity, dropping the oldest stack; capacity 0 caches nothing', () => {
    const cache = new ParsedStackCache(3, limits, isInAppFile);
    for (let i = 0; i < 10; i++) cache.frames(`Error: e\n    at f${i} (/app/a.js:${i + 1}:1)`);
    expect(cache.size).toBe(3);
    expect(cache.frames('Error: e\n    at f9 (/app/a.js:10:1)')[0]).toMatchObject({
      function: 'f9',
      line: 10,
    });
    const none = new ParsedStackCache(0, limits, isInAppFile);
    expect(none.frames(`Error: x${frames}`)).toHaveLength(2);
    expect(none.size).toBe(0);
  });

  it('copes with a huge message of whitespace without slowing to a crawl', () => {
    const cache = new ParsedStackCache(10, limits, isInAppFile);
    const huge = `Error: ${' \n'.repeat(200_000)}${frames}`;
    expect(cache.frames(huge)).toHaveLength(2);
  });
});
