/**
 * Runs every TypeScript example in README.md against this package's sources and checks what
 * each prints against the `// a b c` comment on its console.log lines, where there is one.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { typeCheckExamples } from '../../../scripts/typeCheckExamples.js';

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
    expect(
      typeCheckExamples(blocks, (b) => b.replaceAll("'@homing/resilience'", JSON.stringify(index))),
    ).toEqual([]);
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
