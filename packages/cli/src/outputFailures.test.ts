import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { captureIo, open, seedOutbox, startSink } from './commands/commands.test-helpers.js';
import { createProjectCommand, listProjectsCommand } from './commands/projects.js';

// The built CLI with stdout or stderr on /dev/full: every write to it fails with ENOSPC, as on
// a full disk under `> file`. An unhandled write error ended the process with a stack trace.
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/bin.js');

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-output-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the built CLI with `full` on /dev/full; answers its exit code and the other stream. */
function runCli(args: string[], full: 'stdout' | 'stderr') {
  const fd = openSync('/dev/full', 'w');
  cleanups.push(() => closeSync(fd));
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', full === 'stdout' ? fd : 'pipe', full === 'stderr' ? fd : 'pipe'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let other = '';
  (full === 'stdout' ? child.stderr : child.stdout)!.on('data', (d: Buffer) => (other += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { child, exited, other: () => other };
}

describe.skipIf(!existsSync('/dev/full') || !existsSync(bin))(
  'output that cannot be written (/dev/full)',
  () => {
    it('projects create > /dev/full: the project is made, and stderr says so and how to see its keys, exit 1', async () => {
      const dataDir = join(await tempDir(), 'data');
      const { exited, other } = runCli(['projects', 'create', 'lost-keys', '--data-dir', dataDir], 'stdout');
      expect(await exited).toBe(1);
      const listed = captureIo();
      expect(await listProjectsCommand({ dataDir, json: true }, listed)).toBe(0);
      const [project] = JSON.parse(listed.out()) as { id: string; name: string }[];
      expect(project).toMatchObject({ name: 'lost-keys' });
      expect(other()).toContain(
        `error: project "lost-keys" (${project!.id}) was created, but writing its keys to stdout failed (ENOSPC)\n` +
          `hint: npx homing projects list --show-keys --data-dir ${dataDir} shows them\n`,
      );
      expect(other()).not.toMatch(/\n\s+at /);
      // Said once, by the command: not again by the generic line.
      expect(other()).not.toContain('homing: writing to stdout failed');
    });

    it('flush 2>/dev/full: sends everything, lets its lock go, says on stdout that stderr failed, exit 1', async () => {
      const seeded = await seedOutbox(30);
      const sink = await startSink();
      cleanups.push(seeded.cleanup, sink.close);
      const { exited, other } = runCli(
        ['flush', '--outbox', seeded.dir, '--host', sink.url, '--key', 'wk', '--timeout', '20000'],
        'stderr',
      );
      expect(await exited).toBe(1);
      expect(other()).toMatch(
        /homing: writing to stderr failed \(ENOSPC: no space left on device, write\); what was written there is lost\n$/,
      );
      expect(other()).not.toMatch(/\n\s+at /);
      expect(new Set(sink.uuids)).toEqual(new Set(seeded.uuids));
      expect(existsSync(join(seeded.dir, 'delivery.lock'))).toBe(false);
      const outbox = open(seeded.dir);
      try {
        expect((await outbox.size()).events).toBe(0);
      } finally {
        await outbox.close();
      }
    });

    it('serve >/dev/full: logs are lost (said once on stderr), ingest goes on, SIGTERM still exits 0', async () => {
      const dataDir = await tempDir();
      const made = captureIo();
      expect(await createProjectCommand('app', { dataDir }, made)).toBe(0);
      const { writeKey } = JSON.parse(made.out()) as { writeKey: string };
      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const { port } = probe.address() as AddressInfo;
      await new Promise((r) => probe.close(r));
      const { child, exited, other } = runCli(
        ['serve', '--port', String(port), '--data-dir', dataDir, '--log-level', 'info'],
        'stdout',
      );
      const url = `http://127.0.0.1:${port}`;
      for (let i = 0; ; i++) {
        const ready = await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        if (child.exitCode !== null || i > 200) throw new Error(`serve never got ready: ${other()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (let i = 0; i < 300; i++) {
        const answer = await fetch(`${url}/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${writeKey}`, 'content-type': 'application/json' },
          body: JSON.stringify([
            { event: 'e', distinct_id: 'd', uuid: `0193a5c0-0000-7000-8000-${String(i).padStart(12, '0')}` },
          ]),
        });
        expect(answer.status).toBe(202);
      }
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(other().match(/homing: writing to stdout failed \(ENOSPC/g)).toHaveLength(1);
      expect(other()).not.toMatch(/\n\s+at /);
    });
  },
);
