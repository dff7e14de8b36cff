/**
 * Something not ours (a FIFO, a socket, a plain file) where one of the outbox's own files belongs:
 * `cursor.json`, `outbox.json`, a state file, `delivery.lock`, `dead-letters.log`, `state/`. None
 * of them is ever opened as ours; nothing waits on one; what is moved aside is said so once.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, lstatSync, mkdtempSync, openSync, promises as fs, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { drain } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';
import { outboxWarningInto, record, within } from './notOurs.test-helpers.js';
import { FileOutboxInspector } from './FileOutboxInspector.js';
import { DEAD_LETTER_FILE, DELIVERY_LOCK_FILE } from './segmentFiles.js';

const dirs: string[] = [];
const open: FileOutbox[] = [];
afterEach(async () => {
  // A reader still blocked in open() (before the fix) is let go, or it holds a pool thread for
  // good: every FIFO left in the directory (moved aside or not) gets a writer for a moment.
  // Synchronously: with the pool's threads all blocked, an asynchronous open would wait too.
  for (const dir of dirs) {
    for (const name of readdirSync(dir, { recursive: true }) as string[]) {
      const file = path.join(dir, name);
      if (!lstatSync(file).isFIFO()) continue;
      try {
        closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // No reader waits on it.
      }
    }
  }
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-not-ours-'));
  dirs.push(dir);
  return dir;
}

function outbox(directory: string, warnings: string[] = []): FileOutbox {
  const o = outboxWarningInto(directory, warnings);
  open.push(o);
  return o;
}

/** An outbox directory holding `uuids`, written and closed by an earlier run. */
async function withEvents(uuids: readonly string[]): Promise<string> {
  const dir = tempDir();
  const first = outbox(dir);
  first.append(uuids.map(record));
  await first.persist();
  await first.close();
  return dir;
}

function mkfifo(file: string): void {
  execFileSync('mkfifo', ['-m', '600', file]);
}

/** `readStateSync(stateDir, key)` in a child process, as printed; a child still blocked after 10 s is killed. */
function readStateSyncInChild(stateDir: string, key: string): string {
  const here = (name: string): string => fileURLToPath(new URL(name, import.meta.url));
  const script = `import { readStateSync } from ${JSON.stringify(here('./StateFiles.js'))};
    console.log(String(readStateSync(process.argv[1], process.argv[2])));`;
  const child = spawnSync(
    process.execPath,
    ['--import', here('./__fixtures__/register-ts.mjs'), '--input-type=module', '-e', script, stateDir, key],
    { encoding: 'utf8', timeout: 10_000 },
  );
  return child.signal === null ? child.stdout.trim() : `killed (${child.signal}) while reading`;
}

/** The entries moved aside from `name` in `dir`. */
const asideOf = (dir: string, name: string): string[] =>
  readdirSync(dir).filter((n) => n.startsWith(`${name}.`) && n.endsWith('.in-the-way'));

describe.skipIf(process.platform === 'win32')('a FIFO where one of the outbox files belongs', () => {
  it('cursor.json: delivery and a status finish; it is moved aside, said once, and acks are saved again', async () => {
    const dir = await withEvents(['a', 'b']);
    await fs.rm(path.join(dir, 'cursor.json'), { force: true });
    mkfifo(path.join(dir, 'cursor.json'));
    const inspector = await FileOutboxInspector.open(dir);
    // Before, the read of the cursor blocked a pool thread for good and none of these settled.
    expect((await within(inspector.size(), 'a status')).events).toBe(2);
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    expect(await within(drain(app), 'delivery')).toEqual(['a', 'b']);
    await within(app.close(), 'close()');
    expect(lstatSync(path.join(dir, 'cursor.json')).isFile()).toBe(true);
    const aside = asideOf(dir, 'cursor.json');
    expect(aside).toHaveLength(1);
    expect(lstatSync(path.join(dir, aside[0]!)).isFIFO()).toBe(true);
    expect(warnings.filter((w) => w.includes('a FIFO was in the place of cursor.json'))).toHaveLength(1);
    // The acks were stored: a next run has nothing left to send.
    expect(await within(drain(outbox(dir)), 'the next run')).toEqual([]);
  });

  it('outbox.json: the saved limits read as none; the app moves it aside and saves them', async () => {
    const dir = await withEvents(['a']);
    const info = path.join(dir, 'outbox.json');
    await fs.rm(info);
    mkfifo(info);
    const inspector = await FileOutboxInspector.open(dir);
    // Before, `homing status` and `homing flush` waited on it for good.
    expect(await within(inspector.savedLimits(), 'the saved limits')).toBeUndefined();
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    await within(app.opened(), 'open');
    // Before, it was replaced by the rename, silently: deleted, though it is not ours.
    expect(asideOf(dir, 'outbox.json').map((n) => lstatSync(path.join(dir, n)).isFIFO())).toEqual([true]);
    expect(warnings.join('\n')).toContain('a FIFO was in the place of outbox.json');
    expect((await within(inspector.savedLimits(), 'the saved limits'))?.maxEvents).toBe(app.limits.maxEvents);
  });

  it('a state file: read as unset, moved aside, said once; set and read again after', async () => {
    const dir = await withEvents(['a']);
    const file = path.join(dir, 'state', 'k-breaker.json');
    await fs.mkdir(path.dirname(file), { recursive: true });
    mkfifo(file);
    const inspector = await FileOutboxInspector.open(dir);
    // A tool only looks: unset, and left where it is.
    expect(await within(inspector.getState('breaker'), 'a status')).toBeUndefined();
    expect(lstatSync(file).isFIFO()).toBe(true);
    // Read synchronously (an install id an older version kept there), it blocked the main thread:
    // read in a child, which is killed if it still waits after a while.
    expect(readStateSyncInChild(path.dirname(file), 'breaker')).toBe('undefined');
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    // Before, getState() never settled, and the delivery that waited for the breaker with it.
    expect(await within(app.getState('breaker'), 'getState()')).toBeUndefined();
    expect(asideOf(path.dirname(file), 'k-breaker.json')).toHaveLength(1);
    expect(warnings.filter((w) => w.includes('a FIFO was in the place of state'))).toHaveLength(1);
    await app.setState('breaker', { open: false });
    expect(await app.getState('breaker')).toEqual({ open: false });
    expect(await within(drain(app), 'delivery')).toEqual(['a']);
  });

  it('delivery.lock: delivery takes the lock over, and a status says who delivers, without waiting on it', async () => {
    const dir = await withEvents(['a', 'b']);
    const lock = path.join(dir, DELIVERY_LOCK_FILE);
    mkfifo(lock);
    // Older than the grace a lock being written gets: it holds no owner, so it is nobody's.
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(lock, old, old);
    const inspector = await FileOutboxInspector.open(dir);
    // Before, reading the owner blocked a pool thread for good.
    expect(await within(inspector.deliveryLock(), 'a status')).toMatchObject({ pid: null, stale: true });
    const app = outbox(dir);
    expect(await within(drain(app), 'delivery')).toEqual(['a', 'b']);
    expect(lstatSync(lock).isFile()).toBe(true);
    await within(app.close(), 'close()');
  });
});

describe.skipIf(process.platform === 'win32')('other things where the outbox files belong', () => {
  it('a socket at dead-letters.log: dead-lettering goes on; it is moved aside as a FIFO is', async () => {
    const dir = tempDir();
    const file = path.join(dir, DEAD_LETTER_FILE);
    // A Unix socket bound there by a process that ended without closing it.
    const made = spawnSync(process.execPath, [
      '-e',
      "require('net').createServer().listen(process.argv[1], () => process.exit(0))",
      file,
    ]);
    expect(made.status).toBe(0);
    expect(lstatSync(file).isSocket()).toBe(true);
    const app = outbox(dir);
    app.append([record('d1')]);
    await app.persist();
    const batch = await app.claim(10, Infinity);
    // Before, its open failed (ENXIO) at every dead letter: the batch stayed claimed, for good.
    await within(app.deadLetter(batch!.records, 'HTTP 400'), 'deadLetter()');
    await app.ack(batch!);
    expect((await app.listDeadLetters()).map((d) => d.record.uuid)).toEqual(['d1']);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(asideOf(dir, DEAD_LETTER_FILE).map((n) => lstatSync(path.join(dir, n)).isSocket())).toEqual([
      true,
    ]);
  });

  it('a plain file in place of state/: moved aside, and said so', async () => {
    const dir = await withEvents(['a']);
    await fs.rm(path.join(dir, 'state'), { recursive: true, force: true });
    await fs.writeFile(path.join(dir, 'state'), 'x');
    const warnings: string[] = [];
    const app = outbox(dir, warnings);
    expect(await drain(app)).toEqual(['a']);
    expect(asideOf(dir, 'state')).toHaveLength(1);
    // Before, it was moved aside silently: whoever put it there never heard where it went.
    expect(warnings).toEqual([expect.stringContaining('a file was in the place of state; moved aside')]);
  });
});
