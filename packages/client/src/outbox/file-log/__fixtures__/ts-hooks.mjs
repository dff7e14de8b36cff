// Module hooks that let a plain `node` child process import the outbox's TypeScript sources
// (Node 20 cannot strip types itself, and no build is needed to test): `.js` specifiers fall
// back to the `.ts` file beside them, and `.ts` files are transpiled one by one with the
// TypeScript compiler the repository already has.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Loading the TypeScript compiler costs about a second per child process, and crash tests start
// hundreds of children: transpiled output is cached on disk by content hash, and the compiler
// is only loaded on a miss.
const cacheDir = join(tmpdir(), 'homing-ts-hooks-cache');
let compiler;
async function transpile(fileName, sourceText) {
  compiler ??= (await import('typescript')).default;
  return compiler.transpileModule(sourceText, {
    fileName,
    compilerOptions: {
      module: compiler.ModuleKind.ESNext,
      target: compiler.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  }).outputText;
}

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
  const sourceText = await readFile(fileName, 'utf8');
  const key = createHash('sha256').update(fileName).update('\0').update(sourceText).digest('hex');
  const cached = join(cacheDir, `${key}.js`);
  let source;
  try {
    source = await readFile(cached, 'utf8');
  } catch {
    source = await transpile(fileName, sourceText);
    // Written under a unique name and renamed, so a child killed mid-write leaves no torn entry.
    const temporary = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await mkdir(cacheDir, { recursive: true })
      .then(() => writeFile(temporary, source))
      .then(() => rename(temporary, cached))
      .catch(() => {});
  }
  return { format: 'module', source, shortCircuit: true };
}
