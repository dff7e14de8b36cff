import { execFileSync } from 'node:child_process';
import { constants, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OutboxDrop } from '../outbox.js';
import { makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import type { FileOutboxOptions } from './options.js';
import { DEAD_LETTER_FILE } from './segmentFiles.js';

const DAY_MS = 24 * 60 * 60 * 1000;
const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-letters-'));
  dirs.push(dir);
  return dir;
}

/** An outbox whose every pending record was claimed and dead-lettered. */
async function deadLettered(options: FileOutboxOptions, uuids: readonly string[]) {
  const outbox = createFileOutbox(options);
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  outbox.append(
    uuids.map((uuid) => ({ uuid, json: JSON.stringify({ event: 'e', uuid }), timestampMs: Date.now() })),
  );
  await outbox.persist();
  const batch = await outbox.claim(1000, Infinity);
  await outbox.deadLetter(batch!.records, 'HTTP 400');
  await outbox.ack(batch!);
  return { outbox, drops };
}

const listed = async (outbox: { listDeadLetters(): Promise<{ record: { uuid: string } }[]> }) =>
  (await outbox.listDeadLetters()).map((d) => d.record.uuid);

describe('file outbox dead letters', () => {
  it('a directory in place of the dead-letter store: read as none, moved aside at the first dead letter', async () => {
    const directory = tempDir();
    await fs.mkdir(path.join(directory, DEAD_LETTER_FILE, 'x'), { recursive: true });
    const { outbox } = await deadLettered({ directory }, ['d1', 'd2']);
    // Before, every dead letter failed (EISDIR) and the batch came back forever.
    expect(await listed(outbox)).toEqual(['d1', 'd2']);
    expect((await outbox.size()).events).toBe(0);
    await outbox.close();
    expect((await fs.readdir(directory)).some((n) => n.startsWith(`${DEAD_LETTER_FILE}.`))).toBe(true);
  });

  it('a symlink in place of the dead-letter store: its target is never written; moved aside at the first dead letter', async () => {
    const directory = tempDir();
    const target = path.join(tempDir(), 'notes.txt');
    await fs.writeFile(target, '');
    await fs.symlink(target, path.join(directory, DEAD_LETTER_FILE));
    const { outbox } = await deadLettered({ directory }, ['d1', 'd2']);
    // Before, the dead letters were appended to the link's target, a file elsewhere.
    expect(await fs.readFile(target, 'utf8')).toBe('');
    expect(await listed(outbox)).toEqual(['d1', 'd2']);
    await outbox.close();
    expect((await fs.lstat(path.join(directory, DEAD_LETTER_FILE))).isFile()).toBe(true);
    const aside = (await fs.readdir(directory)).find((n) => n.endsWith('.in-the-way'));
    expect((await fs.lstat(path.join(directory, aside!))).isSymbolicLink()).toBe(true);
  });

  it.skipIf(process.platform === 'win32')(
    'a FIFO in place of the dead-letter store: dead-lettering does not wait on it; moved aside',
    async () => {
      const directory = tempDir();
      const fifo = path.join(directory, DEAD_LETTER_FILE);
      execFileSync('mkfifo', ['-m', '600', fifo]);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('dead-lettering did not settle in 3000 ms')), 3000);
      });
      try {
        // Before, its open() blocked a pool thread for good and the dead letter never settled.
        const { outbox } = await Promise.race([deadLettered({ directory }, ['f1']), late]);
        expect(await listed(outbox)).toEqual(['f1']);
        await outbox.close();
      } finally {
        clearTimeout(timer);
        // A reader still blocked in open() (before the fix) is let go.
        await fs.open(fifo, constants.O_WRONLY | constants.O_NONBLOCK).then(
          (h) => h.close(),
          () => {},
        );
      }
      expect((await fs.readdir(directory)).some((n) => n.endsWith('.in-the-way'))).toBe(true);
    },
  );

  it('a replay queues a dead letter older than retention again instead of dropping it', async () => {
    let now = Date.now();
    const { outbox, drops } = await deadLettered(
      { directory: tempDir(), retentionMs: DAY_MS, now: () => now },
      ['old'],
    );
    now += 2 * DAY_MS;
    expect(await outbox.replayDeadLetters()).toBe(1);
    expect(await outbox.size()).toMatchObject({ events: 1, deadLetters: 0 });
    const batch = await outbox.claim(10, Infinity);
    expect(batch?.records.map((r) => JSON.parse(r.json) as unknown)).toEqual([{ event: 'e', uuid: 'old' }]);
    expect(drops.filter((d) => d.reason === 'retention' && d.count > 0)).toEqual([]);
    await outbox.close();
  });

  it('a dead letter the queue does not take (full, drop-newest) stays a dead letter', async () => {
    const { outbox } = await deadLettered({ directory: tempDir(), maxEvents: 1, overflow: 'drop-newest' }, [
      'refused',
    ]);
    outbox.append(makeRecords(1));
    await outbox.persist();
    expect(await outbox.replayDeadLetters()).toBe(0);
    expect(await listed(outbox)).toEqual(['refused']);
    expect((await outbox.size()).events).toBe(1);
    await outbox.close();
  });
});

describe('file outbox dead letters in one process at once', () => {
  it('a replay and a dead-letter call at once lose neither', { timeout: 30_000 }, async () => {
    for (let run = 0; run < 10; run++) {
      const { outbox } = await deadLettered({ directory: tempDir(), persistIntervalMs: 1 }, ['a', 'b', 'c']);
      outbox.append(
        ['x', 'y'].map((uuid) => ({ uuid, json: JSON.stringify({ uuid }), timestampMs: Date.now() })),
      );
      await outbox.persist();
      const batch = await outbox.claim(10, Infinity);
      const replay = outbox.replayDeadLetters(['a', 'b', 'c']);
      await new Promise((r) => setTimeout(r, run % 5));
      await Promise.all([replay, outbox.deadLetter(batch!.records, 'second')]);
      await outbox.ack(batch!);
      expect(await replay).toBe(3);
      expect((await listed(outbox)).sort()).toEqual(['x', 'y']);
      await outbox.close();
    }
  });
});

describe('file outbox dead-letter store damage and cap', () => {
  it('cuts a torn tail before the next dead letters, so none of them is lost, and counts what was cut', async () => {
    const directory = tempDir();
    const first = await deadLettered({ directory }, ['a-0', 'a-1', 'a-2']);
    await first.outbox.close();
    // A crash or a full disk in the middle of an append: the last frame is cut short.
    const file = path.join(directory, DEAD_LETTER_FILE);
    await fs.truncate(file, (await fs.stat(file)).size - 10);
    const { outbox, drops } = await deadLettered({ directory }, ['b-0', 'b-1', 'b-2']);
    expect(await listed(outbox)).toEqual(['a-0', 'a-1', 'b-0', 'b-1', 'b-2']);
    expect(drops.filter((d) => d.reason === 'corrupt')).toEqual([
      expect.objectContaining({ reason: 'corrupt', count: 1 }),
    ]);
    await outbox.close();
  });

  it('counts the dead letters discarded over maxDeadLetters as overflow', async () => {
    const { outbox, drops } = await deadLettered({ directory: tempDir(), maxDeadLetters: 2 }, [
      'a',
      'b',
      'c',
      'd',
    ]);
    expect(await listed(outbox)).toEqual(['c', 'd']);
    const total = (reason: OutboxDrop['reason']) =>
      drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.count, 0);
    expect(total('dead-lettered')).toBe(4);
    expect(total('overflow')).toBe(2);
    await outbox.close();
  });
});
