/**
 * Runs every TypeScript example of a feature's README.md against the feature's sources, and
 * checks what each prints against the `// expected` comment on its console.log lines.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const normalise = (s: string): string =>
  s
    .replace(/[[\]{}"',]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

export function runReadmeExamples(
  readmePath: string,
  indexPath: string,
  mustMention: readonly string[],
): void {
  const readme = readFileSync(readmePath, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const dir = mkdtempSync(join(tmpdir(), 'homing-feature-readme-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('README examples', () => {
    it('has examples covering the public API', () => {
      expect(blocks.length).toBeGreaterThan(0);
      for (const name of mustMention)
        expect(
          blocks.some((b) => b.includes(name)),
          name,
        ).toBe(true);
    });

    blocks.forEach((block, i) => {
      const printed = [...block.matchAll(/console\.log\([\s\S]*?\);? \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
      it(`example ${i + 1} runs${printed.length ? ` and prints ${printed.join(' | ')}` : ''}`, async () => {
        const file = join(dir, `example${i}.ts`);
        writeFileSync(
          file,
          `${block.replaceAll("'@homing/client'", JSON.stringify(indexPath))}\nexport {};\n`,
        );
        const lines: string[] = [];
        const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
          lines.push(
            args.map((a) => (typeof a === 'string' ? a : (JSON.stringify(a) ?? String(a)))).join(' '),
          );
        });
        try {
          await import(file);
        } finally {
          log.mockRestore();
        }
        const got = lines.map(normalise);
        for (const expected of printed) expect(got).toContain(normalise(expected));
      });
    });
  });
}
