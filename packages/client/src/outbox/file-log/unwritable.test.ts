import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../logger.js';
import { OutboxIoError } from '../errors.js';
import type { OutboxDrop } from '../outbox.js';
import { drain, makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import { FileOutbox } from './FileOutbox.js';

const dirs: string[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-unwritable-'));
  dirs.push(dir);
  return dir;
}

function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, warn: (message: string) => void warnings.push(message), error() {} };
}

async function expectMemoryFallback(directory: string): Promise<void> {
  const logger = recordingLogger();
  const outbox = createFileOutbox({ directory, logger });
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  const records = makeRecords(5);
  outbox.append(records);
  // Not stored: whoever waits for persist() must not take the events for safe.
  const refused = await outbox.persist().then(
    () => null,
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(OutboxIoError);
  expect((refused as OutboxIoError).message).toContain('kept in memory only');
  expect((refused as OutboxIoError).cause).toBeInstanceOf(Error);
  expect((await outbox.size()).events).toBe(5);
  expect(await drain(outbox)).toEqual(records.map((r) => r.uuid));
  expect(logger.warnings).toEqual([expect.stringContaining('kept in memory only')]);
  expect(drops).toEqual([]);
  await outbox.close();
}

describe('a file outbox whose directory cannot be used', () => {
  it('falls back to memory, says so, and keeps the events claimable (path through a file)', async () => {
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    await expectMemoryFallback(path.join(file, 'outbox'));
  });

  it('falls back to memory when the directory exists but nothing can be written in it (read-only)', async () => {
    const directory = tempDir();
    const open = fs.open.bind(fs);
    vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
      if (String(file).startsWith(directory) && flags !== 'r' && flags !== undefined) {
        throw Object.assign(new Error(`EROFS: read-only file system, open '${String(file)}'`), {
          code: 'EROFS',
        });
      }
      return open(file, flags, mode);
    });
    await expectMemoryFallback(directory);
  });
});

describe('a file outbox whose limits file cannot be written at open', () => {
  const stored = makeRecords(3);

  async function seeded(): Promise<string> {
    const directory = tempDir();
    const before = new FileOutbox({ directory });
    before.append(stored);
    await before.close();
    return directory;
  }

  async function expectStillOnDisk(directory: string): Promise<Logger & { warnings: string[] }> {
    const logger = recordingLogger();
    const outbox = createFileOutbox({ directory, logger });
    // Still the file outbox: what is on disk is delivered, and new events are stored.
    expect(await drain(outbox)).toEqual(stored.map((r) => r.uuid));
    outbox.append([{ uuid: 'new-1', json: '{}', timestampMs: Date.now() }]);
    await outbox.persist();
    await outbox.close();
    const next = new FileOutbox({ directory, saveLimits: false });
    expect(await drain(next)).toEqual(['new-1']);
    await next.close();
    expect(logger.warnings.join(' ')).toContain('outbox.json');
    expect(logger.warnings.join(' ')).not.toContain('kept in memory');
    return logger;
  }

  it('disk full: still opens on disk and delivers what is there (it would free the room)', async () => {
    const directory = await seeded();
    const rename = fs.rename.bind(fs);
    vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
      if (String(to).endsWith('outbox.json')) {
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return rename(from, to);
    });
    await expectStillOnDisk(directory);
  });

  it('a directory in the way of outbox.json: still opens on disk', async () => {
    const directory = await seeded();
    await fs.rm(path.join(directory, 'outbox.json'));
    await fs.mkdir(path.join(directory, 'outbox.json', 'x'), { recursive: true });
    await expectStillOnDisk(directory);
  });
});

describe('a file outbox whose directory stops taking writes after it opened', () => {
  it('counts what its last write at close could not store as dropped (unsaved)', async () => {
    const directory = tempDir();
    const logger = recordingLogger();
    const outbox = new FileOutbox({ directory, logger });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((d) => drops.push(d));
    await outbox.opened();
    const open = fs.open.bind(fs);
    vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
      if (String(file).startsWith(directory) && flags !== 'r' && flags !== undefined) {
        throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      }
      return open(file, flags, mode);
    });
    outbox.append(makeRecords(5));
    await expect(outbox.persist()).rejects.toThrow();
    await outbox.close();
    expect(drops).toEqual([{ reason: 'unsaved', count: 5, bytes: expect.any(Number) }]);
    expect(logger.warnings).toContainEqual(expect.stringContaining('could not be written at close'));
  });
});

describe('the memory fallback', () => {
  it('counts what is still pending at close as dropped (unsaved)', async () => {
    const file = path.join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    const outbox = createFileOutbox({ directory: path.join(file, 'outbox'), logger: recordingLogger() });
    const drops: OutboxDrop[] = [];
    outbox.onDrop((d) => drops.push(d));
    outbox.append(makeRecords(10));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    const batch = await outbox.claim(3, Infinity);
    expect(batch?.records).toHaveLength(3);
    await outbox.close();
    expect(drops).toEqual([{ reason: 'unsaved', count: 10, bytes: expect.any(Number) }]);
  });
});
