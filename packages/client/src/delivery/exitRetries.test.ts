import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileOutbox } from '../outbox/file-log/FileOutbox.js';
import { mountSmallDisk } from '../outbox/file-log/smallDisk.test-helpers.js';
import { createFileOutbox } from '../outbox/node.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { type Harness, makeRecords, Sink, startDelivery, track } from './delivery.test-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A sink that answers every request 503 with `Retry-After: 1`. */
async function unavailableSink(): Promise<Sink> {
  const sink = await Sink.start(() => ({ status: 503, headers: { 'retry-after': '1' } }));
  cleanups.push(() => sink.down());
  return sink;
}

function fileOutbox(): Outbox {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-exit-retries-'));
  const outbox = createFileOutbox({ directory });
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  cleanups.push(() => outbox.close());
  return outbox;
}

/** Tracks three events, runs the host's exit hook, and answers what the outbox still holds. */
async function exitWith(outbox: Outbox, sink: Sink, exitFlushTimeoutMs: number): Promise<Harness> {
  const h = startDelivery(
    // A batch interval longer than the test: only the exit flush sends. One request at a time:
    // on a loaded machine the three events could reach the disk in two writes, be claimed as two
    // batches and go out as two requests at once, each failing once (CI met it).
    {
      endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
      intervalMs: 60_000,
      exitFlushTimeoutMs,
      concurrency: 1,
    },
    { outbox },
  );
  cleanups.push(() => h.delivery.shutdown(0));
  track(h, makeRecords(3));
  await h.platform.exit();
  return h;
}

/**
 * A CLI's exit flush with a file outbox: what is not sent stays for the next run, so an endpoint
 * that answers 503 or refuses is tried once, not waited for. Before, the exit flush waited out
 * every backoff and Retry-After within its budget: a CLI run took 0.5 to 2 s longer to end
 * whenever the server was down.
 */
describe('exit flush retries', () => {
  it('with a file outbox: one attempt, the events stay queued for the next run', async () => {
    const sink = await unavailableSink();
    const outbox = fileOutbox();
    const h = await exitWith(outbox, sink, 5_000);
    expect(sink.requests).toHaveLength(1);
    expect(h.delivery.stats().failedAttempts).toBe(1);
    expect((await outbox.size()).events).toBe(3);
  });

  it('with a file outbox and the endpoint refusing connections: one attempt', async () => {
    const sink = await unavailableSink();
    await sink.down();
    const outbox = fileOutbox();
    const h = await exitWith(outbox, sink, 5_000);
    expect(h.delivery.stats().failedAttempts).toBe(1);
    expect((await outbox.size()).events).toBe(3);
  });

  it('with a memory outbox, whose events end with the process: retries within the budget', async () => {
    const sink = await unavailableSink();
    const outbox = createMemoryOutbox();
    await exitWith(outbox, sink, 3_000);
    // The first attempt, then at least the one after Retry-After's second.
    expect(sink.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('a file outbox on a full disk, whose events wait in memory, says it keeps nothing across runs until written', async () => {
    const disk = mountSmallDisk(4 * 1024 * 1024);
    cleanups.push(() => disk.unmount());
    const outbox = new FileOutbox({ directory: path.join(disk.dir, 'outbox'), persistIntervalMs: 0 });
    cleanups.push(() => outbox.close());
    await outbox.persist();
    expect(outbox.keepsAcrossRuns()).toBe(true);
    disk.fill();
    outbox.append(makeRecords(3));
    await expect(outbox.persist()).rejects.toThrow(/ENOSPC/);
    expect(outbox.keepsAcrossRuns()).toBe(false);
    rmSync(path.join(disk.dir, 'filler'));
    await outbox.persist();
    expect(outbox.keepsAcrossRuns()).toBe(true);
  });

  it('an outbox that says it keeps what it holds across runs: one attempt, whatever the outbox', async () => {
    const sink = await unavailableSink();
    const memory = createMemoryOutbox();
    // The decision is the outbox's answer, read once the first attempt failed.
    const keeping: Outbox = Object.assign(Object.create(memory) as Outbox, { keepsAcrossRuns: () => true });
    await exitWith(keeping, sink, 3_000);
    expect(sink.requests).toHaveLength(1);
  });
});
