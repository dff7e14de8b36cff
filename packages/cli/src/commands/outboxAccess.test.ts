import { readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileOutbox, SENDING_STATE_KEY } from '@homing/client';
import { afterEach, describe, expect, it } from 'vitest';
import { captureIo, startSink } from './commands.test-helpers.js';
import { deadLetters } from './dead-letters.js';
import { flush } from './flush.js';
import { runCommand } from './outboxCommand.js';
import { status } from './status.js';

const NOBODY = 65534;
/** A user whose app used an outbox directory that nobody (65534) made first. */
const ALICE = 65533;
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
/** `savedEndpoints`: flush without --host, to where the outbox says its app sends. */
const commands = (dir: string, options: { savedEndpoints?: boolean } = {}): Record<string, Run> => ({
  status: (io) => status({ outbox: dir }, io),
  flush: (io) =>
    flush(
      options.savedEndpoints === true
        ? { outbox: dir, timeout: 300 }
        : { outbox: dir, host: 'http://127.0.0.1:9', key: 'k', timeout: 300 },
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
  return asUser(NOBODY, run);
}
async function asUser(uid: number, run: Run): Promise<{ code: number; err: string }> {
  const io = captureIo();
  process.seteuid!(uid);
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
      // Its consent as its owner's app reads it: the grant that owner stored.
      const json = captureIo();
      expect(await status({ outbox: dir, json: true }, json)).toBe(0);
      expect((JSON.parse(json.out()) as { consent: unknown }).consent).toBe('granted');
    },
  );

  it.runIf(asRoot)(
    'an outbox in a directory another account made and others can write in: every command refuses; flush sends nothing to the endpoints planted there',
    async () => {
      const dir = await outboxDir();
      const attacker = await startSink();
      cleanups.push(attacker.close);
      // Planted: where a flush without --host sends, and with which key.
      const planted = createFileOutbox({ directory: dir });
      await planted.setState(SENDING_STATE_KEY, {
        mode: 'failover',
        endpoints: [{ destination: 'homing', host: attacker.url, key: 'hw_theirs' }],
      });
      await planted.close();
      // The user's app (uid 65533) queued its events there; the directory is nobody's, open to
      // all, in a place anyone may look into (as /tmp).
      await chmod(join(dir, '..'), 0o755);
      for (const name of await readdir(dir, { recursive: true })) await chown(join(dir, name), ALICE, ALICE);
      for (const path of [dir, join(dir, 'state')]) {
        await chown(path, NOBODY, NOBODY);
        await chmod(path, 0o777);
      }
      const stateFiles = (await readdir(join(dir, 'state'))).map((n) => join(dir, 'state', n));
      const sending = stateFiles.find((f) => readFileSync(f, 'utf8').includes(SENDING_STATE_KEY))!;
      await chown(sending, NOBODY, NOBODY);
      await chmod(sending, 0o644);
      const { flush: flushFirst, ...others } = commands(dir, { savedEndpoints: true });
      for (const [name, run] of [['flush', flushFirst!] as const, ...Object.entries(others)]) {
        const r = await asUser(ALICE, run);
        expect(attacker.requests, name).toBe(0);
        expect(r.code, name).toBe(1);
        expect(r.err, name).toContain(
          `error: ${dir} can be written by others than its owner (uid ${NOBODY}, mode 777): what is in the outbox`,
        );
        expect(r.err, name).toContain('hint: let the app use a directory of its own');
      }
    },
  );

  it.runIf(asRoot)(
    'the user’s own outbox with a state/ of another account’s: status reads it; flush refuses up front, with the chown that gives it back',
    async () => {
      const dir = await outboxDir();
      await chmod(join(dir, '..'), 0o755);
      for (const name of ['.', ...(await readdir(dir, { recursive: true }))])
        await chown(join(dir, name), ALICE, ALICE);
      await chown(join(dir, 'state'), NOBODY, NOBODY);
      await chmod(join(dir, 'state'), 0o755);
      expect((await asUser(ALICE, commands(dir).status!)).code).toBe(0);
      const r = await asUser(ALICE, commands(dir).flush!);
      expect(r.code).toBe(1);
      expect(r.err).toContain(
        `error: ${join(dir, 'state')} belongs to uid ${NOBODY}, not to this user (uid ${ALICE})`,
      );
      expect(r.err).toContain(`hint: give it back to the outbox's owner: sudo chown -R ${ALICE} ${dir}`);
    },
  );

  it('the user’s own outbox, or its state/, that others can write in: every command refuses, with the chmod that fixes it', async () => {
    for (const sub of ['.', 'state']) {
      const dir = await outboxDir();
      const open = join(dir, sub);
      await chmod(open, 0o770);
      for (const [name, run] of Object.entries(commands(dir))) {
        const io = captureIo();
        expect(await run(io), `${name} ${sub}`).toBe(1);
        expect(io.err(), `${name} ${sub}`).toContain(`can be written by others than its owner`);
        expect(io.err(), `${name} ${sub}`).toContain(`mode 770`);
        expect(io.err(), `${name} ${sub}`).toContain(
          `hint: take the write bits from others: chmod go-w ${open}`,
        );
      }
    }
  });

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
