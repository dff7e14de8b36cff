/**
 * Runs every TypeScript example of a README against the sources and checks what each prints
 * against the `// expected` comment on its console.log lines. `modules` maps the package
 * specifiers the examples import (`@homing/client`, `@homing/client/integrations`) to source
 * files. `BASE` in an expected line stands for the example's own local server address.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { typeCheckExamples } from '../../../scripts/typeCheckExamples.js';

const normalise = (s: string): string =>
  s
    .replace(/http:\/\/127\.0\.0\.1:\d{2,5}/g, 'BASE')
    .replace(/[[\]{}"',]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

export interface ReadmeExampleOptions {
  /** Package specifier → source file; longer specifiers are replaced first. */
  modules: Record<string, string>;
  /** Names the examples together must mention (the public API they show). */
  mustMention: readonly string[];
  /** Every printed line must be an expected one (not only contain them). Default false. */
  exactLines?: boolean;
}

export function runReadmeExamples(readmePath: string, options: ReadmeExampleOptions): void {
  const readme = readFileSync(readmePath, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const dir = mkdtempSync(join(tmpdir(), 'homing-readme-'));
  const specifiers = Object.keys(options.modules).sort((a, b) => b.length - a.length);
  const rewrite = (block: string): string =>
    specifiers.reduce(
      (text, spec) => text.replaceAll(`'${spec}'`, JSON.stringify(options.modules[spec])),
      block,
    );
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('README examples', () => {
    it('has examples covering the public API', () => {
      expect(blocks.length).toBeGreaterThan(0);
      for (const name of options.mustMention)
        expect(
          blocks.some((b) => b.includes(name)),
          name,
        ).toBe(true);
    });

    it('every example type-checks under strict TypeScript, as a user compiles it', () => {
      expect(typeCheckExamples(blocks, rewrite)).toEqual([]);
    }, 60_000);

    blocks.forEach((block, i) => {
      const printed = [...block.matchAll(/console\.log\([\s\S]*?\);? \/\/ (.+)$/gm)].map((m) => m[1]!.trim());
      it(`example ${i + 1} runs${printed.length ? ` and prints ${printed.join(' | ')}` : ''}`, async () => {
        const file = join(dir, `example${i}.ts`);
        writeFileSync(file, `${rewrite(block)}\nexport {};\n`);
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
        if (options.exactLines) expect(got).toHaveLength(printed.length);
        for (const expected of printed) expect(got).toContain(normalise(expected));
      });
    });
  });
}
