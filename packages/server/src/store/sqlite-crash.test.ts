import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
// Transpiled copies of the store live under node_modules so the child resolves better-sqlite3.
const build = join(
  here,
  '../../../../node_modules/.cache',
  `homing-store-crash-${randomBytes(4).toString('hex')}`,
);

/** The store's files, and the files outside it that they import, laid out as in src. */
function transpileStore(): void {
  mkdirSync(join(build, 'store'), { recursive: true });
  const transpile = (from: string, to: string): string => {
    const source = readFileSync(from, 'utf8');
    const out = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
    });
    writeFileSync(to, out.outputText);
    return source;
  };
  const outside = new Set<string>();
  for (const f of readdirSync(here)) {
    if (!f.endsWith('.ts') || f.includes('.test') || f.includes('.contract')) continue;
    const source = transpile(join(here, f), join(build, 'store', f.replace(/\.ts$/, '.js')));
    for (const m of source.matchAll(/from '\.\.\/([\w-]+)\.js'/g)) outside.add(m[1]!);
  }
  for (const name of outside) transpile(join(here, '..', `${name}.ts`), join(build, `${name}.js`));
  writeFileSync(join(build, 'package.json'), '{"type":"module"}');
  // Inserts batches forever; batch i holds events i*100 … i*100+119, so each batch repeats 20
  // events of the next one. Prints "ack i" only after insertEvents(i) resolved.
  writeFileSync(
    join(build, 'store', 'child.js'),
    `import { SqliteStore } from './sqlite.js';
const [dataDir, projectId, from] = process.argv.slice(2);
const store = new SqliteStore({ dataDir, expandChunkEvents: 300 });
await store.migrate();
const uuid = (n) => '00000000-0000-4000-8000-' + n.toString(16).padStart(12, '0');
const now = new Date().toISOString();
let i = Number(from);
const inflight = new Set();
for (;;) {
  const batch = i;
  const events = Array.from({ length: 120 }, (_, j) => ({ uuid: uuid(batch * 100 + j), event: 'crash', distinctId: 'crash',
    timestamp: now, originalTimestamp: null, receivedAt: now, properties: { batch, j, pad: 'x'.repeat(200) } }));
  const p = store.insertEvents(projectId, events).then(() => { process.stdout.write('ack ' + batch + '\\n'); inflight.delete(p); });
  inflight.add(p);
  i++;
  if (inflight.size >= 8) await Promise.race(inflight);
}
`,
  );
}

function runUntilKilled(
  dataDir: string,
  projectId: string,
  from: number,
  acksBeforeKill: number,
): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(build, 'store', 'child.js'), dataDir, projectId, String(from)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const acked: number[] = [];
    let buf = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('ack ')) acked.push(Number(l.slice(4)));
      if (acked.length >= acksBeforeKill) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve(acked);
      else reject(new Error(`child exited without being killed: ${stderr}`));
    });
  });
}

describe('SqliteStore under SIGKILL', () => {
  afterAll(() => rmSync(build, { recursive: true, force: true }));

  it('keeps every batch whose insertEvents resolved, exactly once, across kills mid-ingest and mid-expansion', async () => {
    transpileStore();
    const dataDir = tempDir();
    const setup = await openSqlite({ dataDir });
    const project = await setup.createProject('crash');
    await setup.close();

    const acked = new Set<number>();
    let from = 0;
    for (const kills of [40, 70, 25]) {
      const got = await runUntilKilled(dataDir, project.id, from, kills);
      got.forEach((b) => acked.add(b));
      // Restart a little before the last acknowledged batch: resends must be duplicates.
      from = Math.max(0, Math.max(...got) - 5);
    }
    expect(acked.size).toBeGreaterThan(100);

    const store = await openSqlite({ dataDir });
    const seen = new Map<string, number>();
    for await (const e of store.personEvents(project.id, 'crash'))
      seen.set(e.uuid, (seen.get(e.uuid) ?? 0) + 1);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const uuid = (n: number): string => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    const missing: string[] = [];
    for (const b of acked)
      for (let j = 0; j < 120; j++) if (!seen.has(uuid(b * 100 + j))) missing.push(uuid(b * 100 + j));
    expect(missing).toEqual([]);
    // The store is consistent after the kills: resending acknowledged events stores nothing new.
    const b0 = Math.min(...acked);
    const now = new Date().toISOString();
    const resend = Array.from({ length: 120 }, (_, j) => ({
      uuid: uuid(b0 * 100 + j),
      event: 'crash',
      distinctId: 'crash',
      timestamp: now,
      originalTimestamp: null,
      receivedAt: now,
      properties: {},
    }));
    expect(await store.insertEvents(project.id, resend)).toEqual({ accepted: 0, duplicates: 120, erased: 0 });
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);
});
