import { statSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileOutbox } from '@homing/client';
import { afterEach, describe, expect, it } from 'vitest';
import { captureIo } from './commands.test-helpers.js';
import { deadLetters } from './dead-letters.js';
import { flush } from './flush.js';
import { runCommand } from './outboxCommand.js';
import { status } from './status.js';

const NOBODY = 65534;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** An outbox with a queued event and a remembered state (so `state/` exists). */
async function outboxDir(): Promise<string> {
  const parent = await mkdtemp(join(tmpdir(), 'homing-access-'));
  cleanups.push(() => rm(parent, { recursive: true, force: true }));
  const dir = join(parent, 'outbox');
  const outbox = createFileOutbox({ directory: dir });
  outbox.append([
    { uuid: '01900000-0000-7000-8000-000000000001', json: '{"event":"e"}', timestampMs: Date.now() },
  ]);
  await outbox.setState('consent', 'granted');
  await outbox.close();
  return dir;
}

type Run = (io: ReturnType<typeof captureIo>) => Promise<number>;
const commands = (dir: string): Record<string, Run> => ({
  status: (io) => status({ outbox: dir }, io),
  flush: (io) =>
    flush(
      { outbox: dir, host: 'http://127.0.0.1:9', key: 'k', timeout: 300 },
      io,
      new AbortController().signal,
    ),
  'dead-letters': (io) => deadLetters({ outbox: dir }, io),
});

/**
 * Runs `run` as uid 65534 (the effective user, which file access follows) and back to root.
 * Only as root: other users cannot make files another user's.
 */
async function asNobody(run: Run): Promise<{ code: number; err: string }> {
  const io = captureIo();
  process.seteuid!(NOBODY);
  try {
    return { code: await run(io), err: io.err() };
  } finally {
    process.seteuid!(0);
  }
}
/** The outbox (and the temp directory above it) made uid 65534's, as if its app ran as nobody. */
async function giveToNobody(dir: string): Promise<void> {
  for (const name of ['..', '.', ...(await readdir(dir, { recursive: true }))]) {
    await chown(join(dir, name), NOBODY, NOBODY);
  }
}
const asRoot = process.getuid?.() === 0 && typeof process.seteuid === 'function';

describe('an outbox the CLI cannot use: the file in the way is named, with what to do', () => {
  it.runIf(asRoot)(
    'one root-owned file in the user’s own outbox (sudo once): named with its owner, and the chown to run',
    async () => {
      const dir = await outboxDir();
      await chown(join(dir, '..'), NOBODY, NOBODY);
      for (const path of [dir, join(dir, 'state')]) await chown(path, NOBODY, NOBODY);
      const { readdir } = await import('node:fs/promises');
      for (const name of await readdir(dir, { recursive: true }))
        await chown(join(dir, name), NOBODY, NOBODY);
      // Left by `sudo homing flush`: root's, 0600.
      const stray = join(dir, 'state', 'h-0000.json');
      await writeFile(stray, '{}', { mode: 0o600 });
      for (const [name, run] of Object.entries(commands(dir))) {
        const r = await asNobody(run);
        expect(r.code, name).toBe(1);
        expect(r.err, name).toContain(`cannot read ${join('state', 'h-0000.json')}, owned by root (uid 0)`);
        expect(r.err, name).toContain(`sudo chown -R ${NOBODY} ${dir}`);
        expect(r.err, name).not.toContain('run the command as the user the app runs as');
      }
    },
  );

  it.runIf(asRoot)('the user’s own outbox made read-only: said so, not "another user"', async () => {
    const dir = await outboxDir();
    await giveToNobody(dir);
    await chmod(dir, 0o500);
    for (const name of ['flush', 'dead-letters-replay'] as const) {
      const run: Run =
        name === 'flush' ? commands(dir).flush! : (io) => deadLetters({ outbox: dir, replay: true }, io);
      const r = await asNobody(run);
      expect(r.code, name).toBe(1);
      expect(r.err, name).toContain(`the outbox at ${dir} is read-only (mode 500)`);
      expect(r.err, name).toContain(`chmod u+rwx ${dir}`);
      expect(r.err, name).not.toContain('run the command as the user the app runs as');
    }
    // Reading needs no writing.
    expect((await asNobody(commands(dir).status!)).code).toBe(0);
  });

  it.runIf(asRoot)(
    'root on another user’s outbox: a command that changes it refuses (its files would stay root’s), status reads',
    async () => {
      const dir = await outboxDir();
      await giveToNobody(dir);
      for (const name of ['flush', 'dead-letters-replay'] as const) {
        const run: Run =
          name === 'flush' ? commands(dir).flush! : (io) => deadLetters({ outbox: dir, replay: true }, io);
        const io = captureIo();
        expect(await run(io), name).toBe(1);
        expect(io.err(), name).toContain(`the outbox at ${dir} belongs to uid ${NOBODY}`);
        expect(io.err(), name).toContain(`sudo -u '#${NOBODY}' homing`);
      }
      const root = (await readdir(dir, { recursive: true, withFileTypes: true })).filter(
        (e) => e.isFile() && statSync(join(e.parentPath, e.name)).uid === 0,
      );
      expect(root.map((e) => e.name)).toEqual([]);
      expect(await commands(dir).status!(captureIo())).toBe(0);
    },
  );

  it.runIf(asRoot)(
    'root on its own outbox with a read-only mode: root writes there, not refused',
    async () => {
      const dir = await outboxDir();
      await chmod(dir, 0o500);
      const io = captureIo();
      expect(await deadLetters({ outbox: dir, replay: true }, io)).toBe(0);
      expect(io.err()).not.toContain('read-only');
    },
  );

  it('a file in place of state/: which path is wrong and what to do, not a bare ENOTDIR', async () => {
    const dir = await outboxDir();
    await rm(join(dir, 'state'), { recursive: true });
    await writeFile(join(dir, 'state'), 'x');
    for (const [name, run] of Object.entries(commands(dir))) {
      const io = captureIo();
      expect(await run(io), name).toBe(1);
      expect(io.err(), name).toContain(`${join(dir, 'state')} is not a directory`);
      expect(io.err(), name).toContain(`hint: move it aside (mv ${join(dir, 'state')} `);
    }
  });

  it('any other ENOTDIR gets a hint', async () => {
    const io = captureIo();
    const code = await runCommand(io, () =>
      Promise.reject(
        Object.assign(new Error("ENOTDIR: not a directory, open '/x/y/z'"), { code: 'ENOTDIR' }),
      ),
    );
    expect(code).toBe(1);
    expect(io.err()).toMatch(/hint: a file is where a directory should be on that path: move the file aside/);
  });
});
