import { existsSync, mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeRecords } from '../outbox.contract.js';
import { FileOutbox } from './FileOutbox.js';
import { DELIVERY_LOCK_FILE } from './segmentFiles.js';

const dirs: string[] = [];
const open: FileOutbox[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

/** Waits (on the monotonic clock: the wall clock is stepped here) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('condition not met in 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('file outbox under a wall clock that steps', () => {
  it('an idle holder lets the delivery lock go after the clock steps back an hour', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-clock-steps-'));
    dirs.push(directory);
    const a = new FileOutbox({ directory, heartbeatMs: 20, staleMs: 1000 });
    open.push(a);
    a.append(makeRecords(3));
    await a.persist();
    // A delivery that found its endpoint down: claimed, released, then nothing for a while.
    const batch = await a.claim(10, Number.MAX_SAFE_INTEGER);
    await a.release(batch!);
    const lock = path.join(directory, DELIVERY_LOCK_FILE);
    expect(existsSync(lock)).toBe(true);
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, 'now').mockImplementation(() => realNow() - 3_600_000);
    // Before, "idle" was Date.now() minus the last delivery: negative for the hour the step took.
    await until(() => !existsSync(lock));
    const b = new FileOutbox({ directory, heartbeatMs: 20, staleMs: 1000 });
    open.push(b);
    expect((await b.claim(10, Number.MAX_SAFE_INTEGER))?.records).toHaveLength(3);
  });
});
