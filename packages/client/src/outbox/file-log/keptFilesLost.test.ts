/**
 * The files kept beside the queue (`outbox.json`, and through `onKeptFilesLost` the client's
 * install id) are written again when the directory lost them while the app ran (deleted, made
 * again by the next write) or never got them (no file descriptor free at open).
 */
import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeRecords } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';
import { readSavedLimits } from './outboxInfo.js';

const dirs: string[] = [];
const open: FileOutbox[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-kept-files-'));
  dirs.push(dir);
  return dir;
}

/** An outbox with custom limits (so `outbox.json` says something of its own), and how often it told of lost files. */
function outbox(directory: string): { outbox: FileOutbox; told: () => number } {
  const o = new FileOutbox({ directory, maxEvents: 1234, logger: { debug() {}, warn() {}, error() {} } });
  open.push(o);
  let told = 0;
  // Optional: an outbox without it (before) fails on what it writes, not on the call.
  o.onKeptFilesLost?.(() => told++);
  return { outbox: o, told: () => told };
}

/** `rm -rf` of the directory, tried again while the open outbox still adds a file (its space reserve). */
function deleteWhileOpen(directory: string): Promise<void> {
  return fs.rm(directory, { recursive: true, force: true, maxRetries: 20, retryDelay: 10 });
}

describe('the files kept beside the queue', () => {
  it('the directory deleted while the app runs: outbox.json is written again with the next segment, and listeners told', async () => {
    const directory = tempDir();
    const { outbox: app, told } = outbox(directory);
    app.append(makeRecords(2));
    await app.persist();
    expect(told()).toBe(0);
    await deleteWhileOpen(directory);
    app.append(makeRecords(2));
    await app.persist();
    // Before, the directory was made again for the segment alone: tools read the default limits.
    await app.close();
    expect((await readSavedLimits(directory))?.maxEvents).toBe(1234);
    expect(told()).toBe(1);
  });

  it('the directory deleted, then made again by a state write first: the same', async () => {
    const directory = tempDir();
    const { outbox: app, told } = outbox(directory);
    await app.size();
    await deleteWhileOpen(directory);
    await app.setState('breaker', { open: false });
    await app.close();
    expect((await readSavedLimits(directory))?.maxEvents).toBe(1234);
    expect(told()).toBe(1);
  });

  it('no file descriptor free at open: outbox.json is written once a group lands, and listeners told', async () => {
    const directory = tempDir();
    let descriptorsLeft = false;
    const openFile = fs.open.bind(fs);
    vi.spyOn(fs, 'open').mockImplementation(async (file, flags, mode) => {
      if (!descriptorsLeft && String(file).startsWith(directory))
        throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
      return openFile(file, flags, mode);
    });
    const { outbox: app, told } = outbox(directory);
    await app.opened();
    expect(existsSync(path.join(directory, 'outbox.json'))).toBe(false);
    descriptorsLeft = true;
    app.append(makeRecords(3));
    await app.persist();
    await app.close();
    // Before, it was never written in this run: tools used their defaults until the next one.
    expect((await readSavedLimits(directory))?.maxEvents).toBe(1234);
    expect(told()).toBe(1);
  });

  it('is not told while nothing was lost', async () => {
    const directory = tempDir();
    const { outbox: app, told } = outbox(directory);
    for (let i = 0; i < 3; i++) {
      app.append(makeRecords(2));
      await app.persist();
    }
    await app.setState('k', 1);
    await app.close();
    expect(told()).toBe(0);
  });
});
