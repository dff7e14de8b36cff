import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/file-log/createFileOutbox.js';
import { createTelemetry } from '../index.node.js';
import { spawnTelemetryChild } from '../telemetry/__fixtures__/spawnTelemetryChild.js';
import { Sink, until } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A process that is alive for the test: the owner of a lock nobody here holds. */
function liveStranger(): ChildProcess {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  cleanups.push(() => void child.kill('SIGKILL'));
  return child;
}

/** An outbox directory whose dead-letter store a live other process holds, and a sink answering 400. */
async function lockedStoreAndRefusingSink() {
  const directory = mkdtempSync(path.join(tmpdir(), 'homing-dllock-'));
  cleanups.push(() => fs.rm(directory, { recursive: true, force: true }));
  const stranger = liveStranger();
  writeFileSync(
    path.join(directory, 'dead-letters.lock'),
    JSON.stringify({ pid: stranger.pid, host: hostname(), token: 'theirs' }),
  );
  const sink = new Sink();
  sink.handler = () => ({ status: 400, body: '{"error":"refused"}' });
  await sink.up();
  cleanups.push(() => sink.down().catch(() => undefined));
  return { directory, stranger, sink };
}

describe('dead letters while another process holds the dead-letter store', () => {
  it('shutdown keeps its timeout, and the refused events stay in the outbox', async () => {
    const { directory, stranger, sink } = await lockedStoreAndRefusingSink();

    const t = createTelemetry({
      endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
      storage: 'file',
      directory,
      distinctId: 'u',
      respectDoNotTrack: false,
      delivery: { intervalMs: 20, flushOnExit: false },
    });
    for (let i = 0; i < 10; i++) t.track('refused', { i });
    // The batch was refused for good and now waits for the dead-letter store.
    await until(async () => sink.requests.length > 0, 5_000, 'the refused request');
    const started = Date.now();
    await t.shutdown({ timeoutMs: 500 });
    // Before, this waited for the lock for up to a minute (max(5 s, 2 × staleMs)).
    expect(Date.now() - started).toBeLessThan(3_000);

    // Nothing lost: once the other process is gone, the events are there to dead-letter.
    stranger.kill('SIGKILL');
    await new Promise((resolve) => stranger.once('exit', resolve));
    const after = createFileOutbox({ directory });
    const batch = await after.claim(100, Number.MAX_SAFE_INTEGER);
    expect(batch?.records).toHaveLength(10);
    await after.release(batch!);
    await after.close();
  });

  it('a shutdown awaited at the top of a process that has nothing else to do returns (not exit code 13)', async () => {
    const { directory, stranger, sink } = await lockedStoreAndRefusingSink();
    const child = spawnTelemetryChild(['shutdown', directory, sink.url, '10']);
    const { code } = await child.exited;
    // Before, the close waited on the lock wait's unref'd timer: nothing held the process, Node
    // ended it with code 13 ("unsettled top-level await") and the line never came.
    expect(child.stderr()).toBe('');
    expect(code).toBe(0);
    const line = child.lines.find((l) => l.startsWith('S '));
    expect(line).toBeDefined();
    expect(sink.requests.length).toBeGreaterThan(0);
    stranger.kill('SIGKILL');
    await new Promise((resolve) => stranger.once('exit', resolve));
    const after = createFileOutbox({ directory });
    expect((await after.size()).events).toBe(10);
    await after.close();
  });
});
