import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Inside the repo's node_modules, so what an example imports besides Homing (fastify) resolves. */
const CACHE = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));

/**
 * Type-checks README code blocks under strict TypeScript, each as its own ES module with
 * `rewrite` applied (to point package imports at the sources), and answers the errors as
 * `example N, line L: message`. README tests run their examples too, but running strips types unchecked,
 * so an example a user's compiler refuses (`error.kind` on an unknown `error`) ran fine there.
 */
export function typeCheckExamples(blocks: string[], rewrite: (block: string) => string): string[] {
  mkdirSync(CACHE, { recursive: true });
  const dir = mkdtempSync(join(CACHE, 'homing-readme-'));
  try {
    return check(dir, blocks, rewrite);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function check(dir: string, blocks: string[], rewrite: (block: string) => string): string[] {
  // .mts: an ES module whatever package.json is nearest, so top-level await is allowed.
  const files = blocks.map((block, i) => {
    const file = join(dir, `example${i + 1}.mts`);
    writeFileSync(file, `${rewrite(block)}\nexport {};\n`);
    return file;
  });
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || files.includes(d.file.fileName))
    .map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      if (d.file === undefined) return message;
      const line = d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1;
      return `${d.file.fileName.slice(dir.length + 1, -'.mts'.length).replace('example', 'example ')}, line ${line}: ${message}`;
    });
}
