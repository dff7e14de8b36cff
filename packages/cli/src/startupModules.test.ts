import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const RECORD = fileURLToPath(new URL('./__fixtures__/recordLoadedModules.mjs', import.meta.url));

/** What a command's body needs and `homing --help` does not: most of a command's start. */
const COMMAND_BODIES =
  /\/packages\/server\/dist\/index\.js$|\/packages\/client\/dist\/(node\/)?index\.js$|\/node_modules\/(fastify|better-sqlite3|pg|prom-client)\//;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Runs the built `homing` with `args`: its exit code, and the URL of every module it loaded. */
async function modulesLoadedBy(
  ...args: string[]
): Promise<{ code: number | null; err: string; modules: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-cli-modules-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'modules.txt');
  const r = spawnSync(process.execPath, ['--import', RECORD, BIN, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, HOMING_TEST_LOADED_MODULES: file },
  });
  return {
    code: r.status,
    err: r.stderr,
    modules: (await readFile(file, 'utf8')).split('\n').filter(Boolean),
  };
}

// Loading every command's body when the program was built (Fastify, better-sqlite3, pg,
// prom-client, the client) made `homing --version` take a third of a second and more.
describe('homing loads a command only to run it', () => {
  it.each(['--version', '--help', 'serve --help', 'status --help', 'projects list --help'])(
    '`homing %s` loads neither the server, the client nor their dependencies',
    async (command) => {
      const { code, err, modules } = await modulesLoadedBy(...command.split(' '));
      expect(err).toBe('');
      expect(code).toBe(0);
      // The record works: the parser was loaded and recorded.
      expect(modules.some((url) => url.includes('/node_modules/commander/'))).toBe(true);
      expect(modules.filter((url) => COMMAND_BODIES.test(url))).toEqual([]);
    },
  );

  it('a command run loads its body', async () => {
    const { modules } = await modulesLoadedBy('status', '--outbox', join(tmpdir(), 'homing-no-such-outbox'));
    expect(modules.some((url) => /\/packages\/client\/dist\/(node\/)?index\.js$/.test(url))).toBe(true);
  });
});

// Review: with each command's body loaded in its action, a package missing from the install
// (Fastify, the client) failed that import and Node printed its stack, with exit code 1.
describe('a command whose body cannot be loaded', () => {
  const MISSING = fileURLToPath(new URL('./__fixtures__/missingPackage.mjs', import.meta.url));
  it.each([
    ['fastify', 'serve', ['serve', '--port', '0']],
    ['@homing/client', 'status', ['status', '--outbox', join(tmpdir(), 'homing-no-such-outbox')]],
    ['@homing/server', 'projects list', ['projects', 'list', '--data-dir', join(tmpdir(), 'homing-no-data')]],
  ])(
    'without %s: `homing %s` says what failed and what to do, exit code 1, no stack',
    (missing, name, args) => {
      const r = spawnSync(process.execPath, ['--import', MISSING, BIN, ...args], {
        encoding: 'utf8',
        timeout: 30_000,
        env: { ...process.env, HOMING_TEST_MISSING_PACKAGE: missing },
      });
      expect(r.stderr).toContain(
        `error: homing ${name} could not be loaded: Cannot find package '${missing}'`,
      );
      expect(r.stderr).toContain('hint: a package homing needs is missing or broken in this install');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.status).toBe(1);
    },
  );
});
