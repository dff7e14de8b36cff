import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** Runs `identity-child.ts`; resolves with its exit code. */
function runChild(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--conditions=homing-source', '--import', registerTs, here('./__fixtures__/identity-child.ts'), ...args],
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
