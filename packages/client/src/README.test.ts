/**
 * Runs every TypeScript example in the package README against the sources (the Node entry, as
 * `@homing/client` resolves on Node) and checks what each prints against the `// a b c`
 * comment on its console.log lines.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { typeCheckExamples } from '../../../scripts/typeCheckExamples.js';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const entry = fileURLToPath(new URL('./index.node.ts', import.meta.url));
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'homing-client-readme-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('client README examples', () => {
  it('has a runnable example using createTelemetry', () => {
    expect(blocks.some((b) => b.includes('createTelemetry('))).toBe(true);
  });

  it('every example type-checks under strict TypeScript, as a user compiles it', () => {
    expect(typeCheckExamples(blocks, (b) => b.replaceAll("'@homing/client'", JSON.stringify(entry)))).toEqual(
      [],
    );
  }, 60_000);

  blocks.forEach((block, i) => {
    const expected = [...block.matchAll(/console\.log\(.*\); \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
    it(`example ${i + 1} runs and prints ${expected.join(' | ')}`, async () => {
      const file = join(dir, `example${i}.ts`);
      writeFileSync(file, `${block.replaceAll("'@homing/client'", JSON.stringify(entry))}\nexport {};\n`);
      const lines: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(' '));
      });
      try {
        await import(file);
      } finally {
        log.mockRestore();
      }
      expect(lines).toEqual(expected);
    });
  });
});
