import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildProgram, USAGE_EXIT_CODE } from './program.js';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** The built `homing` run as users run it: its exit code and what it printed. */
function homing(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('homing CLI', () => {
  it('names itself and has a version', () => {
    const program = buildProgram();
    expect(program.name()).toBe('homing');
    expect(program.version()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('bad usage caught by the parser exits 2, as the commands answer bad usage', () => {
    const cases = [
      ['frobnicate'],
      ['status'], // --outbox is required
      ['flush', '--outbox'], // its value is missing
      ['dead-letters', '--outbox', '/tmp/x', '--colour'],
      ['projects', 'create'], // NAME is missing
    ];
    for (const args of cases) {
      const r = homing(...args);
      expect(r.code, args.join(' ')).toBe(USAGE_EXIT_CODE);
      expect(r.err, args.join(' ')).toMatch(/error: /);
    }
  });

  it('--help and --version exit 0; a command keeps its own exit code', async () => {
    expect(homing('--help')).toMatchObject({ code: 0 });
    expect(homing('flush', '--help')).toMatchObject({ code: 0 });
    const version = homing('--version');
    expect(version.code).toBe(0);
    expect(version.out.trim()).toBe(buildProgram().version());
    const dir = await mkdtemp(join(tmpdir(), 'homing-bin-'));
    try {
      // No outbox there: a failure the user can act on (1), not bad usage.
      const missing = homing('status', '--outbox', join(dir, 'none'));
      expect(missing.code).toBe(1);
      expect(missing.err).toContain('hint:');
      const badLimit = homing('dead-letters', '--outbox', dir, '--limit', '0');
      expect(badLimit.code).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
