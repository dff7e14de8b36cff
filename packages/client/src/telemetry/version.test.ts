import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LIB_NAME, LIB_VERSION } from './version.js';

describe('version', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name: string;
      version: string;
    };
    expect(LIB_NAME).toBe(pkg.name);
    expect(LIB_VERSION).toBe(pkg.version);
  });
});
