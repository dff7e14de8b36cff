/**
 * The built declarations (`dist/**\/*.d.ts`, from `npm run build`, which `npm install` runs) as an
 * app's compiler reads them, with `skipLibCheck: false`: a Node project has no DOM lib, and a
 * browser project may have no @types/node. A DOM type (`IDBFactory`) in a public option broke the
 * first, a type imported from 'node:perf_hooks' the second.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

// Inside the repo's node_modules, so '@homing/client' resolves as an installed package would.
const CACHE = fileURLToPath(new URL('../../../node_modules/.cache/', import.meta.url));
mkdirSync(CACHE, { recursive: true });
const dir = mkdtempSync(join(CACHE, 'homing-declarations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function compile(name: string, source: string, lib: string[], types: string[]): string[] {
  const file = join(dir, `${name}.mts`);
  writeFileSync(file, source);
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    lib,
    types,
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

describe('the published declarations compile in an app', () => {
  it('a Node project without the DOM lib (lib es2023, types node)', () => {
    const source = [
      `import { createTelemetry } from '@homing/client/node';`,
      `import { homingExpress } from '@homing/client/integrations';`,
      `const telemetry = createTelemetry({ endpoints: [{ destination: 'homing', host: 'http://127.0.0.1:1', key: 'k' }] });`,
      `telemetry.track('cli.command', { ok: true });`,
      `export const used = [homingExpress];`,
    ].join('\n');
    expect(compile('node-app', source, ['lib.es2023.d.ts'], ['node'])).toEqual([]);
  });

  it('a browser project without @types/node (lib es2023 + dom, no types)', () => {
    const source = [
      `import { createTelemetry } from '@homing/client';`,
      `const telemetry = createTelemetry({ endpoints: [{ destination: 'homing', host: 'https://example.test', key: 'k' }] });`,
      `telemetry.track('page.viewed', { path: location.pathname });`,
    ].join('\n');
    expect(compile('browser-app', source, ['lib.es2023.d.ts', 'lib.dom.d.ts'], [])).toEqual([]);
  });
});
