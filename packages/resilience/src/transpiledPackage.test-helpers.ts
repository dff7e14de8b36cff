import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/**
 * This package's sources transpiled as they are into a temporary directory, for a child `node`
 * process (Node 20 cannot run TypeScript). Answers the directory (remove it when done) and the
 * path of its `index.js`.
 */
export function transpiledPackage(prefix: string): { dir: string; index: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const src = fileURLToPath(new URL('.', import.meta.url));
  for (const file of readdirSync(src).filter((f) => f.endsWith('.ts') && !f.includes('.test'))) {
    const out = ts.transpileModule(readFileSync(join(src, file), 'utf8'), {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    }).outputText;
    writeFileSync(join(dir, file.replace(/\.ts$/, '.js')), out);
  }
  return { dir, index: join(dir, 'index.js') };
}
