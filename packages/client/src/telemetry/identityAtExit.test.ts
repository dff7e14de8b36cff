import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.node.js';
import { IDENTITY_FILE } from './identityFile.node.js';
import { until } from './telemetry.test-helpers.js';

const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
const registerTs = here('../outbox/file-log/__fixtures__/register-ts.mjs');

/** Runs `identity-child.ts` (or another fixture); resolves with its exit code. */
function runChild(
  args: string[],
  env: Record<string, string> = {},
  fixture = 'identity-child.ts',
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=homing-source', '--import', registerTs, here(`./__fixtures__/${fixture}`), ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DO_NOT_TRACK: '', HOMING_DISABLED: '', ...env },
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

/**
 * A CLI's `login` (identify) or `logout` (reset) command that ends with `process.exit()` or an
 * uncaught exception in the same turn: the identity file is written asynchronously, and only
 * the `exit` event runs after that turn. The next run must still see the login or the logout.
 */
describe('identify() and reset() when the process ends in the same turn (child processes)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-identity-exit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const kept = (directory: string): string | undefined => {
    const file = path.join(directory, IDENTITY_FILE);
    return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
  };

  it.each([
    ['exit', 0],
    ['throw', 1],
  ])('identify() then %s: the identity is kept for the next run', { timeout: 60_000 }, async (end, code) => {
    const directory = path.join(dir, `identify-${end}`);
    const run = await runChild([directory, 'identify', end]);
    expect(run.code, run.stderr).toBe(code);
    expect(kept(directory)).toBe('carol');
  });

  it.each([
    ['exit', 0],
    ['throw', 1],
  ])('reset() then %s: the kept identity is forgotten', { timeout: 60_000 }, async (end, code) => {
    const directory = path.join(dir, `reset-${end}`);
    const login = await runChild([directory, 'identify', 'exit']);
    expect(login.code, login.stderr).toBe(0);
    expect(kept(directory)).toBe('carol');
    const logout = await runChild([directory, 'reset', end]);
    expect(logout.code, logout.stderr).toBe(code);
    expect(kept(directory)).toBeUndefined();
  });

  it(
    'identify() under consent denied then exit: the user id is not written, and an earlier one is forgotten',
    { timeout: 60_000 },
    async () => {
      const directory = path.join(dir, 'denied');
      const first = await runChild([directory, 'identify', 'exit']);
      expect(first.code, first.stderr).toBe(0);
      writeFileSync(path.join(directory, IDENTITY_FILE), 'dave\n');
      const run = await runChild([directory, 'identify', 'exit'], { HOMING_CHILD_CONSENT: 'denied' });
      expect(run.code, run.stderr).toBe(0);
      expect(kept(directory)).toBeUndefined();
    },
  );

  it.each(['exit', 'shutdown'])(
    'identify() before the remembered denial is read, then %s: the user id is not written',
    { timeout: 60_000 },
    async (end) => {
      const directory = path.join(dir, `remembered-denied-${end}`);
      const deny = await runChild([directory, 'deny', 'shutdown']);
      expect(deny.code, deny.stderr).toBe(0);
      // The options say 'granted' (the default); the remembered 'denied' wins once read.
      const run = await runChild([directory, 'identify', end]);
      expect(run.code, run.stderr).toBe(0);
      expect(kept(directory)).toBeUndefined();
    },
  );

  it(
    'identify() then shutdown(), nothing remembered: the id is written once the consent is read',
    { timeout: 60_000 },
    async () => {
      const directory = path.join(dir, 'nothing-remembered');
      const run = await runChild([directory, 'identify', 'shutdown']);
      expect(run.code, run.stderr).toBe(0);
      expect(kept(directory)).toBe('carol');
    },
  );

  it(
    'reset() right after an earlier identify() whose write may be under way, then exit: nothing of it is left',
    { timeout: 60_000 },
    async () => {
      // Each run ends at another point of the earlier write (not started, in the thread pool, done).
      const runs = Array.from({ length: 24 }, (_, i) => i % 8);
      const directories: string[] = [];
      for (let i = 0; i < runs.length; i += 6) {
        await Promise.all(
          runs.slice(i, i + 6).map(async (turns, j) => {
            const directory = path.join(dir, `race-${i + j}`);
            directories.push(directory);
            const run = await runChild([directory, String(turns)], {}, 'identity-race-child.ts');
            expect(run.code, run.stderr).toBe(0);
          }),
        );
      }
      for (const directory of directories) {
        expect(kept(directory), directory).toBeUndefined();
        const left = existsSync(directory) ? readdirSync(directory).filter((n) => n.endsWith('.tmp')) : [];
        expect(left, directory).toEqual([]);
      }
    },
  );
});

describe('identify() under consent denied (in process)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-identity-denied-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const client = (directory: string) =>
    createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => {} }],
      storage: 'file',
      directory,
      consent: 'denied',
      delivery: { flushOnExit: false },
    });

  it('is used in memory only: nothing about the user is written while consent is denied', async () => {
    const directory = path.join(dir, 'stays-denied');
    const t = client(directory);
    t.identify('ann@example.com', { email: 'ann@example.com' });
    t.track('x');
    await t.shutdown({ timeoutMs: 1_000 });
    expect(existsSync(path.join(directory, IDENTITY_FILE))).toBe(false);
  });

  it('is written once consent is granted in the same run', async () => {
    const directory = path.join(dir, 'granted-later');
    const t = client(directory);
    t.identify('ann');
    t.setConsent('granted');
    await t.shutdown({ timeoutMs: 1_000 });
    await until(() => existsSync(path.join(directory, IDENTITY_FILE)), 15_000, 'the identity file');
    expect(readFileSync(path.join(directory, IDENTITY_FILE), 'utf8').trim()).toBe('ann');
  });
});

describe('a denial after identify() (in process)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-identity-denial-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('forgets the kept id; granting again in the same run writes it back', async () => {
    const directory = path.join(dir, 'deny-after');
    const file = path.join(directory, IDENTITY_FILE);
    const t = createTelemetry({
      endpoints: [{ destination: 'custom', send: async () => {} }],
      storage: 'file',
      directory,
      delivery: { flushOnExit: false },
    });
    t.setConsent('granted');
    t.identify('ann');
    await until(() => existsSync(file), 15_000, 'the identity file');
    t.setConsent('denied');
    await until(() => !existsSync(file), 15_000, 'the identity file removed');
    t.setConsent('granted');
    await until(() => existsSync(file), 15_000, 'the identity file again');
    expect(readFileSync(file, 'utf8').trim()).toBe('ann');
    await t.shutdown({ timeoutMs: 1_000 });
  });
});
