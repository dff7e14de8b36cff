/**
 * What `npm publish` would ship of each package (`npm pack --dry-run`), checked as a user of the
 * registry meets it: the licence text, no tests or build caches, every entry point of
 * package.json, every source a source map names (devtools and bundlers' source-map loaders read
 * them), and every relative link of the README (npm shows it, and a link to a file the package
 * does not hold is dead there).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['resilience', 'client', 'react', 'server', 'cli'];

function packedFiles(name: string): Set<string> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const out = execFileSync(
    npm,
    ['pack', '--dry-run', '--json', '--ignore-scripts', '-w', `packages/${name}`],
    {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const [pack] = JSON.parse(out) as Array<{ files: Array<{ path: string }> }>;
  return new Set(pack!.files.map((f) => f.path));
}

/** Every string leaf of package.json's `exports`, `main`, `types` and `bin`, but the sources' condition. */
function entryPoints(pkg: Record<string, unknown>): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') found.push(value);
    else if (value !== null && typeof value === 'object')
      for (const [key, inner] of Object.entries(value)) if (key !== 'homing-source') walk(inner);
  };
  walk([pkg.exports, pkg.main, pkg.types, pkg.bin]);
  return found.filter((p) => !p.endsWith('package.json')).map((p) => normalize(p));
}

/** Whether the installed package `name` carries its own declarations. */
function shipsTypes(name: string): boolean {
  const dir = join(root, 'node_modules', name);
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  return (
    typeof meta.types === 'string' ||
    typeof meta.typings === 'string' ||
    JSON.stringify(meta.exports ?? {}).includes('"types"') ||
    existsSync(join(dir, 'index.d.ts'))
  );
}

describe.each(PACKAGES)('the published @homing/%s', (name) => {
  const dir = join(root, 'packages', name);
  const files = packedFiles(name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;

  it('holds the licence its package.json names, and no tests, fixtures or build caches', () => {
    expect(pkg.license).toBe('MIT');
    expect(files.has('LICENSE')).toBe(true);
    expect(
      [...files].filter((f) =>
        /\.test\.ts$|test-helpers|__fixtures__|\.tsbuildinfo$|\.contract\.ts$/.test(f),
      ),
    ).toEqual([]);
  });

  it('holds every entry point of its package.json', () => {
    expect(entryPoints(pkg).filter((p) => !files.has(p))).toEqual([]);
  });

  it('holds every source its source maps name', () => {
    const missing: string[] = [];
    for (const file of files) {
      if (!file.endsWith('.map')) continue;
      const map = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
        sources: string[];
        sourcesContent?: unknown[];
      };
      map.sources.forEach((source, i) => {
        if (map.sourcesContent?.[i] != null) return;
        const target = normalize(join(dirname(file), source));
        if (!files.has(target)) missing.push(`${file} -> ${source}`);
      });
    }
    expect(missing.slice(0, 10)).toEqual([]);
  });

  it('links its READMEs only to files it holds (or to absolute URLs)', () => {
    const dead: string[] = [];
    for (const doc of [...files].filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(dir, doc), 'utf8');
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/i.test(target) || target.startsWith('#')) continue;
        const path = normalize(join(dirname(doc), target.split('#')[0]!));
        if (!files.has(path)) dead.push(`${doc} -> ${target}`);
      }
    }
    expect(dead).toEqual([]);
  });

  it('declares every package its types import (a consumer with skipLibCheck off compiles them)', () => {
    const declared = new Set(
      ['dependencies', 'peerDependencies'].flatMap((field) =>
        Object.keys((pkg[field] as Record<string, string> | undefined) ?? {}),
      ),
    );
    const peers = new Set(Object.keys((pkg.peerDependencies as Record<string, string> | undefined) ?? {}));
    const undeclared = new Set<string>();
    for (const file of files) {
      if (!file.endsWith('.d.ts')) continue;
      const text = readFileSync(join(dir, file), 'utf8');
      for (const match of text.matchAll(/(?:from|import\()\s*['"]([^'"./][^'"]*)['"]/g)) {
        const specifier = match[1]!;
        if (specifier.startsWith('node:')) continue;
        const parts = specifier.split('/');
        const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
        const types = `@types/${name.replace(/^@([^/]+)\//, '$1__')}`;
        if (name === pkg.name || declared.has(types)) continue;
        // A peer's types are the app's, as the peer is (React's @types/react).
        if (peers.has(name)) continue;
        // Declared, but without types of its own (better-sqlite3): its @types package must be too.
        if (!declared.has(name) || !shipsTypes(name)) undeclared.add(name);
      }
    }
    expect([...undeclared]).toEqual([]);
  });
});
