/**
 * Runs every TypeScript example in README.md against these sources and checks what each
 * prints against the `// a b c` comment on its console.log lines.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const readme = readFileSync(fileURLToPath(new URL('./README.md', import.meta.url)), 'utf8');
const index = fileURLToPath(new URL('./index.ts', import.meta.url));
const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(tmpdir(), 'homing-errors-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const squash = (s: string) =>
  s
    .replace(/[[\]"',]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

describe('error tracking README', () => {
  it('has an example using every part of the API', () => {
    for (const name of [
      'captureError(',
      'addBreadcrumb(',
      'trackRecovery(',
      'getErrorGroups(',
      'getStats(',
      'close(',
    ]) {
      expect(blocks.some((b) => b.includes(name))).toBe(true);
    }
  });

  blocks.forEach((block, i) => {
    const printed = [...block.matchAll(/console\.log\([\s\S]*?\);? \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
    it(`example ${i + 1} runs and prints ${printed.join(' | ')}`, async () => {
      expect(printed.length).toBeGreaterThan(0);
      const file = join(dir, `example${i}.ts`);
      writeFileSync(file, `${block.replaceAll("'@homing/client'", JSON.stringify(index))}\nexport {};\n`);
      const lines: string[] = [];
      const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      });
      try {
        await import(file);
      } finally {
        log.mockRestore();
      }
      expect(lines.map(squash)).toEqual(printed.map(squash));
    });
  });
});
