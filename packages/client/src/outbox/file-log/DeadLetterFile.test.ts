import { constants, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeRecords } from '../outbox.contract.js';
import type { DropReason } from '../outbox.js';
import { DeadLetterFile, type DeadLetterFileOptions } from './DeadLetterFile.js';
import { encodeFrames } from './frame.js';
import { DEAD_LETTER_FILE, DEAD_LETTER_LOCK_FILE } from './segmentFiles.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

interface Drop {
  readonly reason: DropReason;
  readonly count: number;
  readonly bytes: number | undefined;
}

/** A store in a new directory (or `dir`: a second instance on the same file, as another process has). */
function store(options: Partial<DeadLetterFileOptions> = {}, dir?: string) {
  if (dir === undefined) {
    dir = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-letter-file-'));
    dirs.push(dir);
  }
  const drops: Drop[] = [];
  const file = path.join(dir, DEAD_LETTER_FILE);
  const letters = new DeadLetterFile({
    file,
    lockFile: path.join(dir, DEAD_LETTER_LOCK_FILE),
    maxDeadLetters: 100,
    maxDeadLetterBytes: 1 << 20,
    fsync: false,
    staleMs: 1000,
    onDrop: (reason, count, bytes) => drops.push({ reason, count, bytes }),
    ...options,
  });
  return Object.assign(letters, { dir, file, drops });
}

const uuidsOf = async (letters: DeadLetterFile) => (await letters.list()).map((d) => d.record.uuid);
const sizeOf = async (file: string) => (await fs.stat(file)).size;
const inodeOf = async (file: string) => (await fs.stat(file)).ino;
const total = (drops: readonly Drop[], reason: DropReason) =>
  drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.count, 0);
const totalBytes = (drops: readonly Drop[], reason: DropReason) =>
  drops.filter((d) => d.reason === reason).reduce((n, d) => n + (d.bytes ?? 0), 0);

/** The size of one dead letter's frame for a record of `size` bytes of JSON (reason 'r', at 1). */
async function frameBytes(size: number): Promise<number> {
  const probe = store();
  await probe.add(makeRecords(1, size), 'r', 1);
  return sizeOf(probe.file);
}

/** Counts the opens of `file` for reading (each a read of the whole dead-letter store). */
function countReads(file: string): { readonly reads: number } {
  const counter = { reads: 0 };
  const open = fs.open.bind(fs);
  vi.spyOn(fs, 'open').mockImplementation((target, flags, mode) => {
    const reading =
      typeof flags === 'number' ? (flags & (constants.O_WRONLY | constants.O_RDWR)) === 0 : flags === 'r';
    if (target === file && reading) counter.reads++;
    return open(target, flags, mode);
  });
  return counter;
}

describe('DeadLetterFile in one process', () => {
  it('an add started while a take is under way waits for it, and is not rewritten away', async () => {
    const file = store();
    const [first, second] = [makeRecords(3), makeRecords(2)];
    await file.add(first, 'first', 1);
    let adding: Promise<void> | undefined;
    const taken = await file.take(undefined, async (all) => {
      adding = file.add(second, 'second', 2);
      await new Promise((r) => setTimeout(r, 20));
      return all;
    });
    await adding;
    expect(taken).toBe(3);
    expect((await file.list()).map((d) => d.record.uuid)).toEqual(second.map((r) => r.uuid));
    expect(await fs.readdir(dirs[0]!)).not.toContain(DEAD_LETTER_LOCK_FILE);
  });
});

describe('DeadLetterFile byte cap', () => {
  it('keeps the file within maxDeadLetterBytes, dropping the oldest, counted overflow with their bytes', async () => {
    const frame = await frameBytes(1000);
    const letters = store({ maxDeadLetterBytes: 10 * frame });
    const records = makeRecords(25, 1000);
    for (const record of records) {
      await letters.add([record], 'r', 1);
      expect(await sizeOf(letters.file)).toBeLessThanOrEqual(10 * frame);
    }
    const kept = await uuidsOf(letters);
    // The newest, in order: the oldest went first.
    expect(kept).toEqual(records.slice(records.length - kept.length).map((r) => r.uuid));
    expect(await letters.count()).toBe(kept.length);
    const dropped = records.length - kept.length;
    expect(total(letters.drops, 'overflow')).toBe(dropped);
    // Bytes of event JSON, as the queue's overflow counts them.
    expect(totalBytes(letters.drops, 'overflow')).toBe(dropped * 1000);
  });

  it('a dead letter larger than the cap by itself is not kept', async () => {
    const letters = store({ maxDeadLetterBytes: 500 });
    await letters.add(makeRecords(1, 2000), 'r', 1);
    expect(await letters.list()).toEqual([]);
    expect(letters.drops).toEqual([{ reason: 'overflow', count: 1, bytes: 2000 }]);
  });

  it('keeps nothing with maxDeadLetterBytes 0', async () => {
    const letters = store({ maxDeadLetterBytes: 0 });
    await letters.add(makeRecords(3), 'r', 1);
    expect(await letters.count()).toBe(0);
    expect(total(letters.drops, 'overflow')).toBe(3);
  });
});

describe('DeadLetterFile appends', () => {
  it('do not read the file again while it is the one they wrote, nor does count()', async () => {
    const letters = store();
    await letters.add(makeRecords(1), 'r', 1);
    const counter = countReads(letters.file);
    for (let i = 0; i < 20; i++) await letters.add(makeRecords(2), 'r', 1);
    expect(await letters.count()).toBe(41);
    // Before, every append read (and decoded) the whole file first.
    expect(counter.reads).toBe(0);
    expect(await letters.list()).toHaveLength(41);
    expect(counter.reads).toBe(1);
  });

  it('past maxDeadLetters, drop the oldest to 90 % at once, and the next appends go in place', async () => {
    const letters = store({ maxDeadLetters: 20 });
    const records = makeRecords(24);
    for (const [i, record] of records.slice(0, 20).entries()) await letters.add([record], `r${i}`, i);
    const full = await inodeOf(letters.file);
    await letters.add([records[20]!], 'r20', 20);
    // Rewritten (a new inode), with the 18 newest, as they were.
    const trimmed = await inodeOf(letters.file);
    expect(trimmed).not.toBe(full);
    expect(await letters.list()).toEqual(
      records.slice(3, 21).map((record, i) => ({ record, reason: `r${i + 3}`, deadLetteredAtMs: i + 3 })),
    );
    expect(letters.drops).toEqual([{ reason: 'overflow', count: 3, bytes: 3 * 60 }]);
    const counter = countReads(letters.file);
    await letters.add([records[21]!], 'r', 1);
    await letters.add([records[22]!], 'r', 1);
    // Appended in place: before, each append past the cap rewrote the whole file.
    expect(await inodeOf(letters.file)).toBe(trimmed);
    expect(counter.reads).toBe(0);
    expect(await uuidsOf(letters)).toEqual(records.slice(3, 23).map((r) => r.uuid));
  });

  it('past maxDeadLetterBytes, drop the oldest to 90 % of it at once, and the next appends go in place', async () => {
    const frame = await frameBytes(1000);
    const cap = 20 * frame;
    const letters = store({ maxDeadLetterBytes: cap });
    const records = makeRecords(24, 1000);
    for (const record of records.slice(0, 20)) await letters.add([record], 'r', 1);
    expect(await sizeOf(letters.file)).toBe(cap);
    const full = await inodeOf(letters.file);
    await letters.add([records[20]!], 'r', 1);
    const trimmed = await inodeOf(letters.file);
    expect(trimmed).not.toBe(full);
    expect(await sizeOf(letters.file)).toBeLessThanOrEqual(cap * 0.9);
    expect(await letters.count()).toBe(18);
    await letters.add([records[21]!], 'r', 1);
    await letters.add([records[22]!], 'r', 1);
    expect(await inodeOf(letters.file)).toBe(trimmed);
    expect(await uuidsOf(letters)).toEqual(records.slice(3, 23).map((r) => r.uuid));
    expect(total(letters.drops, 'overflow')).toBe(3);
  });

  it('notice dead letters another instance (another process) appended in between, within the caps', async () => {
    const first = store({ maxDeadLetters: 5 });
    const second = store({}, first.dir);
    const [a, b, c] = [makeRecords(3), makeRecords(2), makeRecords(1)];
    await first.add(a, 'a', 1);
    await second.add(b, 'b', 2);
    await first.add(c, 'c', 3);
    expect(await first.count()).toBe(5);
    // The oldest of the six went: the first instance counted the second's two.
    expect(await uuidsOf(first)).toEqual([...a.slice(1), ...b, ...c].map((r) => r.uuid));
    expect(total(first.drops, 'overflow')).toBe(1);
  });

  it('notice a rewrite by another instance in between (a replay taking some)', async () => {
    const first = store({ maxDeadLetters: 4 });
    const second = store({}, first.dir);
    const records = makeRecords(6);
    await first.add(records.slice(0, 4), 'r', 1);
    expect(await second.take([records[0]!.uuid, records[1]!.uuid], async (taken) => taken)).toBe(2);
    await first.add(records.slice(4, 6), 'r', 2);
    // Four fit: nothing is dropped, and the count is not the four the first wrote plus two.
    expect(await uuidsOf(first)).toEqual(records.slice(2).map((r) => r.uuid));
    expect(await first.count()).toBe(4);
    expect(total(first.drops, 'overflow')).toBe(0);
  });

  it('cut a torn tail left after their last append (another process that crashed), counted corrupt', async () => {
    const first = store();
    const records = makeRecords(4);
    await first.add(records.slice(0, 3), 'r', 1);
    await fs.truncate(first.file, (await sizeOf(first.file)) - 10);
    await first.add(records.slice(3), 'r', 2);
    expect(await uuidsOf(first)).toEqual([records[0], records[1], records[3]].map((r) => r!.uuid));
    expect(total(first.drops, 'corrupt')).toBe(1);
  });

  it('skip a frame that is not a dead letter, in the count too, and leave it out of a rewrite', async () => {
    const letters = store({ maxDeadLetters: 4 });
    const records = makeRecords(5);
    await letters.add(records.slice(0, 2), 'r', 1);
    const json = '{"other":1}';
    const foreign = encodeFrames([{ uuid: 'x', json, timestampMs: 0, uuidBytes: 1, jsonBytes: json.length }]);
    await fs.appendFile(letters.file, foreign.buffer);
    await letters.add(records.slice(2, 3), 'r', 2);
    expect(await letters.count()).toBe(3);
    expect(await uuidsOf(letters)).toEqual(records.slice(0, 3).map((r) => r.uuid));
    await letters.add(records.slice(3, 5), 'r', 3);
    expect(await uuidsOf(letters)).toEqual(records.slice(1, 5).map((r) => r.uuid));
    expect(await letters.count()).toBe(4);
    expect((await fs.readFile(letters.file)).includes('"other"')).toBe(false);
    expect(letters.drops).toEqual([{ reason: 'overflow', count: 1, bytes: 60 }]);
  });
});
