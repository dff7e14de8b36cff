import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRecords } from '../outbox.contract.js';
import { DeadLetterFile } from './DeadLetterFile.js';
import { DEAD_LETTER_FILE, DEAD_LETTER_LOCK_FILE } from './segmentFiles.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function store(): DeadLetterFile {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-dead-letter-file-'));
  dirs.push(dir);
  return new DeadLetterFile({
    file: path.join(dir, DEAD_LETTER_FILE),
    lockFile: path.join(dir, DEAD_LETTER_LOCK_FILE),
    maxDeadLetters: 100,
    fsync: false,
    staleMs: 1000,
    onDrop: () => {},
  });
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
