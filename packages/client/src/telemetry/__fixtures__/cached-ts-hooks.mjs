// Module hooks for child processes that run the client's TypeScript sources: like the outbox
// fixtures' ts-hooks.mjs (`.js` specifiers fall back to `.ts`, transpiled with the repository's
// TypeScript), plus a disk cache keyed by path, size and mtime, so the crash test's many
// children do not each load the compiler and transpile ~80 files again on a loaded machine.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cacheDir = path.join(os.tmpdir(), 'homing-ts-cache');
mkdirSync(cacheDir, { recursive: true });
let ts;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:');
    if (relative && specifier.endsWith('.js')) return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const fileName = fileURLToPath(url);
  const stat = statSync(fileName);
  const key = createHash('sha1').update(`${fileName}\0${stat.size}\0${stat.mtimeMs}`).digest('hex');
  const cached = path.join(cacheDir, `${key}.mjs`);
  try {
    return { format: 'module', source: readFileSync(cached, 'utf8'), shortCircuit: true };
  } catch {
    // Not cached yet: transpile below.
  }
  ts ??= (await import('typescript')).default;
  const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), {
    fileName,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  });
  // Written aside and renamed: a child killed mid-write leaves no torn cache entry.
  const tmp = `${cached}.${process.pid}.tmp`;
  writeFileSync(tmp, outputText);
  renameSync(tmp, cached);
  return { format: 'module', source: outputText, shortCircuit: true };
}
