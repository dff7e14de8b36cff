import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileOutbox } from '@homing/client';
import { describe, expect, it } from 'vitest';
import { buildProgram, USAGE_EXIT_CODE } from './program.js';

const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

/** The built `homing` run as users run it: its exit code and what it printed. */
function homing(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * `homing` run by a user without access to root's files: as root (CI here), as nobody through
 * setpriv; otherwise this user, on a directory it took its own access from.
 */
function homingAsOutsider(...args: string[]) {
  const asRoot = process.getuid?.() === 0;
  const command = asRoot ? 'setpriv' : process.execPath;
  const prefix = asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [];
  const r = spawnSync(command, [...prefix, BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
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
    // Each points at the help that lists the options it got wrong.
    expect(homing('serve', '-p').err).toContain('(run "homing serve --help" to see its options)');
    expect(homing('projects', 'create').err).toContain(
      '(run "homing projects create --help" to see its options)',
    );
    expect(homing('frobnicate').err).toContain('homing --help');
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

  it('an outbox the user may not read or change: says permission denied and whose it is, not "no outbox"', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'homing-bin-'));
    const dir = join(parent, 'outbox');
    try {
      const outbox = createFileOutbox({ directory: dir });
      outbox.append([
        { uuid: '01900000-0000-7000-8000-000000000001', json: '{"event":"e"}', timestampMs: Date.now() },
      ]);
      // Remembered consent and breaker states live in `state/`, a directory of its own.
      await outbox.setState('consent', 'granted');
      await outbox.close();
      await chmod(parent, 0o755);
      const asRoot = process.getuid?.() === 0;
      // As the outbox makes them (files 0600, state/ 0700): even an open directory does not let
      // another user read them.
      await chmod(dir, 0o755);
      for (const args of [
        ['status', '--outbox', dir],
        ['flush', '--outbox', dir, '--host', 'http://127.0.0.1:9', '--key', 'k'],
      ]) {
        const closed = homingAsOutsider(...args);
        expect(closed.code, args[0]).toBe(1);
        expect(closed.err, args[0]).toContain(
          `permission denied: this user cannot read the outbox at ${dir}`,
        );
      }
      // Made readable, not writable: status works; commands that change the outbox refuse up front.
      for (const name of await readdir(dir, { recursive: true })) {
        const file = join(dir, name);
        await chmod(file, (await stat(file)).isDirectory() ? 0o755 : 0o644);
      }
      await chmod(dir, asRoot ? 0o755 : 0o555);
      expect(homingAsOutsider('status', '--outbox', dir)).toMatchObject({ code: 0 });
      for (const args of [
        ['flush', '--outbox', dir, '--host', 'http://127.0.0.1:9', '--key', 'k', '--timeout', '300'],
        ['dead-letters', '--outbox', dir, '--replay'],
      ]) {
        const r = homingAsOutsider(...args);
        expect(r.code, args[0]).toBe(1);
        expect(r.err, args[0]).toContain(`permission denied: this user cannot change the outbox at ${dir}`);
        expect(r.err, args[0]).toMatch(/hint: run the command as the user the app runs as/);
      }
      // Not even readable.
      await chmod(dir, asRoot ? 0o700 : 0o000);
      const r = homingAsOutsider('status', '--outbox', dir);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`permission denied: this user cannot read the outbox at ${dir}`);
      expect(r.err).not.toContain('No outbox');
      await chmod(dir, 0o755);
      const after = createFileOutbox({ directory: dir });
      expect((await after.size()).events).toBe(1);
      await after.close();
    } finally {
      await chmod(dir, 0o755).catch(() => {});
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('output cut short by its reader (| head) ends quietly: no EPIPE stack trace', async () => {
    const { seedOutbox } = await import('./commands/commands.test-helpers.js');
    const seeded = await seedOutbox(0, 3000);
    try {
      const child = spawn(process.execPath, [BIN, 'dead-letters', '--outbox', seeded.dir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      // Read one chunk, then close the pipe as head does.
      await once(child.stdout, 'data');
      child.stdout.destroy();
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(err).not.toContain('EPIPE');
      expect(code).toBe(0);
    } finally {
      await seeded.cleanup();
    }
  });

  it('--data-dir typed on the command line beats HOMING_DATABASE_URL (with a note); typed with --database it is refused', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'homing-store-choice-'));
    try {
      // A URL nothing answers at: had it been used, the command would have failed to connect.
      const env = { ...process.env, HOMING_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' };
      const run = (...args: string[]) => {
        const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 30_000, env });
        return { code: r.status, out: r.stdout, err: r.stderr };
      };
      const created = run('projects', 'create', 'flag-wins', '--data-dir', dir);
      expect(created.err).toContain('note: --data-dir on the command line wins over HOMING_DATABASE_URL');
      expect(created.code).toBe(0);
      expect(JSON.parse(created.out)).toMatchObject({ name: 'flag-wins' });
      expect((await stat(join(dir, 'homing.db'))).isFile()).toBe(true);
      const both = run(
        'projects',
        'list',
        '--data-dir',
        dir,
        '--database',
        'postgres://postgres@127.0.0.1:1/none',
      );
      expect(both.code).toBe(USAGE_EXIT_CODE);
      expect(both.err).toContain('--data-dir (SQLite) and --database (PostgreSQL) name two stores');
      // The variable alone still picks PostgreSQL (and says it cannot reach it).
      const envOnly = run('projects', 'list');
      expect(envOnly.code).not.toBe(0);
      expect(envOnly.err).toMatch(/PostgreSQL/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
