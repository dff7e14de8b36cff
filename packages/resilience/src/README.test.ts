/**
 * Runs every TypeScript example in README.md against this package's sources and checks what
 * each prints against the `// a b c` comment on its console.log lines, where there is one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const index = fileURLToPath(new URL('./index.ts', import.meta.url));
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'homing-readme-'));

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('README examples', () => {
  it('has an example for each policy', () => {
    for (const name of [
      'retry(',
      'circuitBreaker(',
      'timeout(',
      'bulkhead(',
      'fallback(',
      'wrap(',
      'initialState',
    ]) {
      expect(blocks.some((b) => b.includes(name))).toBe(true);
    }
  });

  it('every example type-checks under strict TypeScript, as a user compiles it', () => {
    // Running an example strips its types unchecked: `error.kind` on an unknown `error` ran fine.
    // .mts: an ES module whatever package.json is nearest, so top-level await is allowed.
    const files = blocks.map((block, i) => {
      const file = join(dir, `typed${i}.mts`);
      writeFileSync(file, `${block.replaceAll("'@homing/resilience'", JSON.stringify(index))}\nexport {};\n`);
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
    const errors = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || files.includes(d.file.fileName))
      .map((d) => {
        const where = d.file
          ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}`
          : '';
        return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      });
    expect(errors).toEqual([]);
  }, 60_000);

  blocks.forEach((block, i) => {
    const printed = [...block.matchAll(/console\.log\([^\n]*\);? \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
    it(`example ${i + 1} runs${printed.length ? ` and prints ${printed.join(' | ')}` : ''}`, async () => {
      const file = join(dir, `example${i}.ts`);
      writeFileSync(file, `${block.replaceAll("'@homing/resilience'", JSON.stringify(index))}\nexport {};\n`);
      const lines: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        lines.push(
          args
            .map((a) => (typeof a === 'string' ? a : a === undefined ? 'undefined' : JSON.stringify(a)))
            .join(' '),
        );
      });
      try {
        await import(file);
      } finally {
        log.mockRestore();
      }
      // Lines whose comment is exact output (not a description of a shape) must match.
      for (const expected of printed.filter((p) => !p.startsWith('{'))) {
        expect(
          lines.map((l) =>
            l
              .replace(/[[\]"',]/g, ' ')
              .replace(/\s+/g, ' ')
              .trim(),
          ),
        ).toContain(
          expected
            .replace(/[[\]"',]/g, ' ')
            .replace(/\s+/g, ' ')
            .trim(),
        );
      }
    });
  });
});
