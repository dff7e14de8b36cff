import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectory, makeDirectorySync } from './makeDirectory.js';

const root = mkdtempSync(path.join(tmpdir(), 'homing-mkdir-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(root, `case-${n++}`);

const forms = [
  ['makeDirectorySync', async (dir: string) => makeDirectorySync(dir)],
  ['makeDirectory', makeDirectory],
] as const;

describe.each(forms)('%s', (_name, make) => {
  it('makes every missing ancestor, and is content with a directory already there', async () => {
    const dir = path.join(fresh(), 'a', 'b', 'c');
    await make(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    await make(dir);
    await make(path.relative(process.cwd(), dir));
    expect(statSync(dir).isDirectory()).toBe(true);
  });

  it('fails with EEXIST when a file is in the way, and leaves the file alone', async () => {
    const base = fresh();
    await make(base);
    const file = path.join(base, 'file');
    writeFileSync(file, 'kept');
    await expect(make(file)).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(make(path.join(file, 'below'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(statSync(file).isFile()).toBe(true);
  });

  it.runIf(existsSync('/proc/self'))(
    "fails with mkdir's ENOENT under /proc, where Node's recursive mkdir never returns",
    async () => {
      await expect(make('/proc/homing-test/outbox')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(make('/proc/homing-test')).rejects.toMatchObject({ code: 'ENOENT' });
    },
  );

  it('concurrent makers of one tree all succeed', async () => {
    const dir = path.join(fresh(), 'x', 'y');
    await Promise.all(Array.from({ length: 8 }, () => make(dir)));
    expect(statSync(dir).isDirectory()).toBe(true);
  });
});

// The whole client with a directory it cannot make: a child process, so a hang (Node's own
// recursive mkdir there) fails this test instead of the test run.
describe.runIf(existsSync('/proc/self'))('createTelemetry with a directory under /proc', () => {
  it('returns, falls back to memory and delivers, shuts down, and lets the process exit', () => {
    const register = fileURLToPath(new URL('./__fixtures__/register-ts.mjs', import.meta.url));
    const index = fileURLToPath(new URL('../../index.node.ts', import.meta.url));
    const script = `
      const { createTelemetry } = await import(${JSON.stringify(index)});
      const c = createTelemetry({
        storage: 'file',
        directory: '/proc/homing-test/outbox',
        endpoints: [{ destination: 'custom', send: async () => {} }],
        respectDoNotTrack: false,
      });
      c.track('started');
      await c.flush({ timeoutMs: 2000 });
      const s = await c.stats();
      console.log(JSON.stringify({ tracked: s.tracked, sent: s.sent }));
      await c.shutdown({ timeoutMs: 2000 });
    `;
    const r = spawnSync(process.execPath, ['--import', register, '--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, DO_NOT_TRACK: '', HOMING_DISABLED: '', HOMING_DEBUG: '' },
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    // The file outbox could not be opened: the client fell back to memory and still delivered.
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toEqual({ tracked: 1, sent: 1 });
  }, 90_000);
});
