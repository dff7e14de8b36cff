import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { threadId, Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileOutbox } from './createFileOutbox.js';
import { DirectoryLock } from './DirectoryLock.js';

/**
 * Locks shared by threads of one process (node:worker_threads), with real workers
 * (`__fixtures__/lock-worker.mjs`). A lock carries our own pid, which is always alive: whether
 * its thread is gone is asked of Node's registry of threads (`threadGone.ts`).
 */

const dirs: string[] = [];
const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'homing-lock-threads-'));
  dirs.push(d);
  return d;
}

/** Long enough that no heartbeat watch takes anything over while a test runs. */
const STALE_MS = 60_000;
const HEARTBEAT_MS = 400;

interface LockWorker {
  readonly worker: Worker;
  /** Runs a command of lock-worker.mjs and answers its result. */
  run<T = boolean>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** Runs `block` and resolves once the worker is busy (with the answer to come when it is done). */
  block(ms: number): Promise<{ done: Promise<boolean> }>;
}

async function startWorker(file: string): Promise<LockWorker> {
  const worker = new Worker(new URL('./__fixtures__/lock-worker.mjs', import.meta.url), {
    workerData: { file, staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS },
  });
  workers.push(worker);
  const failed = new Promise<never>((_, reject) => {
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited (${code})`)));
  });
  failed.catch(() => {});
  const next = (op: string): Promise<{ result?: unknown; error?: string }> =>
    Promise.race([
      new Promise<{ result?: unknown; error?: string }>((resolve) => {
        const onMessage = (m: { op?: string; result?: unknown; error?: string }): void => {
          if (m.op !== op) return;
          worker.off('message', onMessage);
          resolve(m);
        };
        worker.on('message', onMessage);
      }),
      failed,
    ]);
  await Promise.race([new Promise((resolve) => worker.once('message', resolve)), failed]);
  const run = async <T>(op: string, args: Record<string, unknown> = {}): Promise<T> => {
    const answer = next(op);
    worker.postMessage({ op, ...args });
    const { result, error } = await answer;
    if (error !== undefined) throw new Error(`worker ${op}: ${error}`);
    return result as T;
  };
  return {
    worker,
    run,
    async block(ms) {
      const blocking = next('blocking');
      const done = run<boolean>('block', { ms });
      await blocking;
      return { done };
    },
  };
}

async function ownerOf(file: string): Promise<{ pid: number; thread?: number }> {
  return JSON.parse(await fs.readFile(file, 'utf8'));
}

describe('DirectoryLock across threads of one process', () => {
  it('a worker holding the lock that is terminated leaves it to the main thread once its heartbeat stopped (2.5 beats), not after staleMs', async () => {
    const file = path.join(tempDir(), 'delivery.lock');
    const holder = await startWorker(file);
    expect(await holder.run('tryAcquire')).toBe(true);
    const thread = holder.worker.threadId; // -1 once it exited
    expect(await ownerOf(file)).toMatchObject({ pid: process.pid, thread });

    const contender = new DirectoryLock(file, { staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
    expect(await contender.tryAcquire()).toBe(false); // alive: its lock is respected

    // terminate() runs no exit hook: the lock stays behind, naming a thread that is gone.
    await holder.worker.terminate();
    expect(await ownerOf(file)).toMatchObject({ thread });
    // Taken over on the next attempt (which watches its heartbeat 2.5 beats), not after staleMs.
    expect(await contender.tryAcquire()).toBe(true);
    expect(await ownerOf(file)).toMatchObject({ pid: process.pid, thread: threadId });
    await contender.release();
  });

  it('a worker holding the lock that is terminated leaves it to another worker once its heartbeat stopped', async () => {
    const file = path.join(tempDir(), 'delivery.lock');
    const [holder, contender] = await Promise.all([startWorker(file), startWorker(file)]);
    expect(await holder.run('tryAcquire')).toBe(true);
    expect(await contender.run('tryAcquire')).toBe(false);
    await holder.worker.terminate();
    expect(await contender.run('tryAcquire')).toBe(true);
    expect(await ownerOf(file)).toMatchObject({ thread: contender.worker.threadId });
  });

  it('a worker never takes the lock of the live main thread, even one whose event loop is blocked', async () => {
    const file = path.join(tempDir(), 'delivery.lock');
    const holder = new DirectoryLock(file, { staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
    expect(await holder.tryAcquire()).toBe(true);
    const contender = await startWorker(file);
    expect(await contender.run('tryAcquire')).toBe(false);
    // The worker asks while this thread is busy: nothing here can answer it meanwhile.
    const answer = contender.run('tryAcquire');
    const until = Date.now() + 1_500;
    while (Date.now() < until) {
      // blocked
    }
    expect(await answer).toBe(false);
    expect(await holder.verify()).toBe(true);
    await holder.release();
    expect(await contender.run('tryAcquire')).toBe(true);
  });

  it('a worker whose event loop is blocked keeps its lock, against the main thread and other workers', async () => {
    const file = path.join(tempDir(), 'delivery.lock');
    const [holder, other] = await Promise.all([startWorker(file), startWorker(file)]);
    expect(await holder.run('tryAcquire')).toBe(true);
    const contender = new DirectoryLock(file, { staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
    const { done } = await holder.block(2_000);
    expect(await contender.tryAcquire()).toBe(false);
    expect(await other.run('tryAcquire')).toBe(false);
    expect(await done).toBe(true);
    expect(await holder.run('verify')).toBe(true);
    expect(await ownerOf(file)).toMatchObject({ thread: holder.worker.threadId });
  });

  it("a live worker whose app removed every 'workerMessage' listener keeps its lock: its heartbeat goes on", async () => {
    const file = path.join(tempDir(), 'delivery.lock');
    const holder = await startWorker(file);
    expect(await holder.run('tryAcquire')).toBe(true);
    expect(await holder.run('mute')).toBe(true);
    const contender = new DirectoryLock(file, { staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
    expect(await contender.tryAcquire()).toBe(false);
    expect(await ownerOf(file)).toMatchObject({ thread: holder.worker.threadId });
    await holder.worker.terminate();
    expect(await contender.tryAcquire()).toBe(true);
    await contender.release();
  });

  it("after a worker holding an outbox's delivery lock is terminated, the main thread's outbox delivers within a few heartbeats (its claim answered null for staleMs)", async () => {
    const directory = path.join(tempDir(), 'outbox');
    const worker = await startWorker(path.join(directory, 'unused.lock'));
    const claimedThere = await worker.run<string[] | null>('outbox', { directory });
    expect(claimedThere).toHaveLength(1); // the worker holds the delivery lock, its claim unsettled
    await worker.worker.terminate();

    const outbox = createFileOutbox({ directory, staleMs: STALE_MS, heartbeatMs: HEARTBEAT_MS });
    try {
      outbox.append([{ uuid: 'main-1', json: '{"uuid":"main-1"}', timestampMs: Date.now() }]);
      await outbox.persist();
      const batch = await outbox.claim(100, Infinity);
      expect(batch).not.toBeNull(); // null: not the holder, the terminated worker's lock in the way
      expect(batch!.records.map((r) => r.uuid)).toContain('main-1');
      await outbox.ack(batch!);
    } finally {
      await outbox.close();
    }
  });
});
