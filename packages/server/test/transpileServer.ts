import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const src = join(dirname(fileURLToPath(import.meta.url)), '../src');

/**
 * Transpiles the server's sources (tests left out) to JavaScript for a child process, under
 * node_modules/.cache so the child resolves fastify, better-sqlite3 and pg. Answers the
 * directory and a function removing it.
 */
export function transpileServer(): { dir: string; remove(): void } {
  const dir = join(src, '../../../node_modules/.cache', `homing-server-${randomBytes(4).toString('hex')}`);
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) {
        walk(p);
        continue;
      }
      if (!f.endsWith('.ts') || f.includes('.test') || f.includes('.contract')) continue;
      const out = ts.transpileModule(readFileSync(p, 'utf8'), {
        compilerOptions: {
          module: ts.ModuleKind.ESNext,
          target: ts.ScriptTarget.ES2022,
          verbatimModuleSyntax: true,
        },
      });
      const target = join(dir, relative(src, p)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, out.outputText);
    }
  };
  walk(src);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
