import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RESERVE_MIN_FREE_BYTES, SPACE_RESERVE_FILE, SpaceReserve, freeBytesOf } from './SpaceReserve.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-reserve-'));
  dirs.push(dir);
  return dir;
}

const noSpace = (): NodeJS.ErrnoException =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });

describe('SpaceReserve', () => {
  it('makes the reserve once, of the size asked, with no temporary file left', async () => {
    const directory = tempDir();
    const reserve = new SpaceReserve({ directory, bytes: 8192 });
    await Promise.all([reserve.ensure(), reserve.ensure()]);
    await reserve.ensure();
    expect((await fs.stat(path.join(directory, SPACE_RESERVE_FILE))).size).toBe(8192);
    expect(await fs.readdir(directory)).toEqual([SPACE_RESERVE_FILE]);
  });

  it('never takes the last room: no reserve when less than RESERVE_MIN_FREE_BYTES would be left', async () => {
    const directory = tempDir();
    let free = RESERVE_MIN_FREE_BYTES + 8191;
    const reserve = new SpaceReserve({ directory, bytes: 8192, freeBytes: async () => free });
    await reserve.ensure();
    expect(await fs.readdir(directory)).toEqual([]);
    free += 1;
    await reserve.ensure();
    expect(await fs.readdir(directory)).toEqual([SPACE_RESERVE_FILE]);
  });

  it('never rejects: a directory that is gone or a statfs that fails leaves no reserve', async () => {
    const gone = new SpaceReserve({ directory: path.join(tempDir(), 'missing', 'deeper') });
    await expect(gone.ensure()).resolves.toBeUndefined();
    const broken = new SpaceReserve({
      directory: tempDir(),
      freeBytes: () => Promise.reject(new Error('statfs failed')),
    });
    await expect(broken.ensure()).resolves.toBeUndefined();
  });

  it('withRoom: on ENOSPC gives the reserve up and tries once more', async () => {
    const directory = tempDir();
    const reserve = new SpaceReserve({ directory, bytes: 4096 });
    await reserve.ensure();
    let calls = 0;
    const answer = await reserve.withRoom(async () => {
      calls++;
      if (calls === 1) throw noSpace();
      return 'written';
    });
    expect(answer).toBe('written');
    expect(calls).toBe(2);
    expect(await fs.readdir(directory)).toEqual([]);
  });

  it('withRoom: without a reserve, or for any other failure, the first error stands and nothing is retried', async () => {
    const directory = tempDir();
    const reserve = new SpaceReserve({ directory, bytes: 4096 });
    let calls = 0;
    await expect(
      reserve.withRoom(() => {
        calls++;
        return Promise.reject(noSpace());
      }),
    ).rejects.toThrow(/ENOSPC/);
    expect(calls).toBe(1);

    await reserve.ensure();
    await expect(
      reserve.withRoom(() => {
        calls++;
        return Promise.reject(Object.assign(new Error('EACCES'), { code: 'EACCES' }));
      }),
    ).rejects.toThrow('EACCES');
    expect(calls).toBe(2);
    // Not given up for a failure it cannot help.
    expect(await fs.readdir(directory)).toEqual([SPACE_RESERVE_FILE]);

    // Still full after giving it up: the second failure is the answer, and there is no third try.
    await expect(
      reserve.withRoom(() => {
        calls++;
        return Promise.reject(noSpace());
      }),
    ).rejects.toThrow(/ENOSPC/);
    expect(calls).toBe(4);
  });

  it('release answers whether there was a reserve to give up', async () => {
    const reserve = new SpaceReserve({ directory: tempDir(), bytes: 4096 });
    expect(await reserve.release()).toBe(false);
    await reserve.ensure();
    expect(await reserve.release()).toBe(true);
    expect(await reserve.release()).toBe(false);
  });

  it('freeBytesOf: a file system that reports no size at all (statfs all zeros) counts as roomy, not full', async () => {
    const directory = tempDir();
    expect(await freeBytesOf(directory)).toBeGreaterThan(0);
    const spy = vi.spyOn(fs, 'statfs').mockResolvedValue({
      type: 0,
      bsize: 4096,
      blocks: 0,
      bfree: 0,
      bavail: 0,
      files: 0,
      ffree: 0,
    } as Awaited<ReturnType<typeof fs.statfs>>);
    try {
      expect(await freeBytesOf(directory)).toBe(Infinity);
    } finally {
      spy.mockRestore();
    }
  });
});
