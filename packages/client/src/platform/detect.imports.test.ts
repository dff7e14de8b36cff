import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The modules a bundler must include for `entry`: its static value imports, followed through
 * relative files (`.js` specifiers map to the `.ts` sources). `import type` and dynamic
 * `import()` are not followed: they never pull code into the entry's chunk.
 */
function staticGraph(entry: string): { files: string[]; external: string[] } {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    const re = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
    for (const m of text.matchAll(re)) {
      if (m[2] !== undefined) continue;
      const spec = m[3]!;
      if (spec.startsWith('.')) visit(join(dirname(file), spec.replace(/\.js$/, '.ts')));
      else external.add(spec);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => f.slice(here.length - 'platform'.length)), external: [...external] };
}

describe('detect.ts in a browser bundle', () => {
  it('imports no node: module and no node-only file statically', () => {
    const { files, external } = staticGraph(join(here, 'detect.ts'));
    expect(external.filter((s) => s.startsWith('node:'))).toEqual([]);
    expect(files.filter((f) => /node\.ts$|\.node\.ts$|file-log/.test(f))).toEqual([]);
  });

  it('the graph walker does see node imports where they are (so the test above can fail)', () => {
    const { external, files } = staticGraph(join(here, 'node.ts'));
    expect(external).toContain('node:zlib');
    expect(files.some((f) => f.endsWith('cacheDirectory.node.ts'))).toBe(true);
  });
});
