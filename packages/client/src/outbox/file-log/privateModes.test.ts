import { mkdirSync, mkdtempSync, promises as fs, readdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keptIdsBeside } from '../../telemetry/keptIdsBeside.node.js';
import { createFileOutbox } from './createFileOutbox.js';
import { DirectoryLock } from './DirectoryLock.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-modes-'));
  dirs.push(dir);
  return dir;
}

/** Writes every kind of file an app's outbox directory holds: segments (async and at exit), cursor, dead letters, state, limits, install id, identity. */
async function fillOutbox(directory: string): Promise<void> {
  const outbox = createFileOutbox({ directory });
  const record = (uuid: string) => ({
    uuid,
    json: JSON.stringify({ event: 'e', uuid }),
    timestampMs: Date.now(),
  });
  outbox.append([record('a'), record('b')]);
  await outbox.persist();
  const batch = await outbox.claim(1, Infinity);
  await outbox.deadLetter(batch!.records, 'HTTP 400');
  await outbox.ack(batch!);
  await outbox.setState('endpoint:https://example.test', { key: 'hw_secret' });
  outbox.append([record('c')]);
  outbox.persistOnExit?.();
  await outbox.close();
  const ids = keptIdsBeside(directory);
  ids.installId();
  await ids.identity.write('alice');
}

/** Every entry under `root` (itself included), with its permission bits. */
function modesUnder(root: string): Map<string, number> {
  const modes = new Map<string, number>([['.', statSync(root).mode & 0o777]]);
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      modes.set(path.relative(root, full), statSync(full).mode & 0o777);
      if (statSync(full).isDirectory()) walk(full);
    }
  };
  walk(root);
  return modes;
}

/**
 * The outbox directory holds the events, the install id, the identity and the endpoints' state:
 * no other local account may read them, whatever the umask lets through (022 made them 0755/0644).
 */
describe.skipIf(process.platform === 'win32')('modes of what the file outbox creates', () => {
  it('directories are 0700 and files 0600, the missing parents it makes too', async () => {
    const parent = path.join(tempDir(), 'cache', 'homing');
    const directory = path.join(parent, 'app');
    await fillOutbox(directory);
    const modes = modesUnder(directory);
    for (const kind of [
      'cursor.json',
      'dead-letters.log',
      'outbox.json',
      'install-id',
      'identity',
      'state',
    ]) {
      expect(
        [...modes.keys()].some((name) => name.startsWith(kind)),
        kind,
      ).toBe(true);
    }
    expect([...modes.keys()].some((name) => name.endsWith('.log') || name.endsWith('.open'))).toBe(true);
    for (const [name, mode] of modes) {
      const isDirectory = statSync(path.join(directory, name)).isDirectory();
      expect({ name, mode: mode.toString(8) }).toEqual({ name, mode: isDirectory ? '700' : '600' });
    }
    expect((statSync(parent).mode & 0o777).toString(8)).toBe('700');
    // The delivery lock (pid, host and token) too.
    const lock = new DirectoryLock(path.join(directory, 'delivery.lock'), { staleMs: 30_000 });
    expect(await lock.tryAcquire()).toBe(true);
    expect((statSync(lock.file).mode & 0o777).toString(8)).toBe('600');
    await lock.release();
  });

  it('an existing directory keeps its mode (its owner may share it on purpose); what is created in it is private', async () => {
    const directory = path.join(tempDir(), 'shared');
    mkdirSync(directory);
    await fs.chmod(directory, 0o750);
    await fillOutbox(directory);
    const modes = modesUnder(directory);
    expect(modes.get('.')!.toString(8)).toBe('750');
    expect(modes.get('install-id')!.toString(8)).toBe('600');
    expect(modes.get('state')!.toString(8)).toBe('700');
  });
});
