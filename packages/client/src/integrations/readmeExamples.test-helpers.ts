/**
 * Runs every TypeScript example of the integrations README against the sources and checks what
 * each prints against the `// expected` comment on its console.log lines. `@homing/client` is
 * the Node entry plus the error and performance trackers (which the client's public API will
 * export), `@homing/client/integrations` this folder's index. `BASE` in an expected line stands
 * for the example's own local server address.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const normalise = (s: string): string =>
  s
    .replace(/http:\/\/127\.0\.0\.1:\d{2,5}/g, 'BASE')
    .replace(/[[\]{}"',]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();

export function runIntegrationReadmeExamples(readmePath: string, mustMention: readonly string[]): void {
  const readme = readFileSync(readmePath, 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const dir = mkdtempSync(join(tmpdir(), 'homing-integrations-readme-'));
  const client = join(dir, 'client.ts');
  writeFileSync(
    client,
    [
      `export * from ${JSON.stringify(fileURLToPath(new URL('../index.node.ts', import.meta.url)))};`,
      `export { createErrorTracker } from ${JSON.stringify(fileURLToPath(new URL('../features/errors/index.ts', import.meta.url)))};`,
      `export { createPerformanceTracker } from ${JSON.stringify(fileURLToPath(new URL('../features/performance/index.ts', import.meta.url)))};`,
    ].join('\n'),
  );
  const integrations = fileURLToPath(new URL('./index.ts', import.meta.url));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('README examples', () => {
    it('has examples covering the public API', () => {
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
          `${block
            .replaceAll("'@homing/client/integrations'", JSON.stringify(integrations))
            .replaceAll("'@homing/client'", JSON.stringify(client))}\nexport {};\n`,
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
        expect(got).toHaveLength(printed.length);
        for (const expected of printed) expect(got).toContain(normalise(expected));
      });
    });
  });
}
