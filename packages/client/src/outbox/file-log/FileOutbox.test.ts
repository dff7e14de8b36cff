import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OutboxError, OutboxOptionError } from '../errors.js';
import type { Outbox } from '../outbox.js';
import { describeOutboxContract, drain, makeRecords } from '../outbox.contract.js';
import { createFileOutbox, FileOutbox } from './FileOutbox.js';
import type { FileOutboxOptions } from './options.js';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'homing-outbox-'));
}

for (const durability of ['batch', 'fsync', 'memory'] as const) {
  describeOutboxContract(`FileOutbox (${durability})`, {
    persistent: true,
    modelRuns: durability === 'batch' ? 25 : 8,
    async create(options) {
      const dir = tempDir();
      const make = (): Outbox =>
        createFileOutbox({
          directory: dir,
          durability,
          maxSegmentBytes: 4096,
          ...options.limits,
          ...(options.now ? { now: options.now } : {}),
        });
      let current = make();
      return {
        outbox: current,
        async reopen() {
          await current.close();
          current = make();
          return current;
        },
        async dispose() {
          await current.close();
          await fs.rm(dir, { recursive: true, force: true });
        },
      };
    },
  });
}

describe('FileOutbox', () => {
  it('validates its options once, naming the option', () => {
    const directory = tempDir();
    const cases: [Partial<FileOutboxOptions>, string][] = [
      [{ directory: '' }, 'directory'],
      [{ directory: 5 as never }, 'directory'],
      [{ directory, durability: 'sometimes' as never }, 'durability'],
      [{ directory, persistIntervalMs: -1 }, 'persistIntervalMs'],
      [{ directory, flushEvents: 0 }, 'flushEvents'],
      [{ directory, maxSegmentBytes: 10 }, 'maxSegmentBytes'],
      [{ directory, heartbeatMs: 1000, staleMs: 1500 }, 'staleMs'],
      [{ directory, maxEvents: 0 }, 'maxEvents'],
      [{ directory, overflow: 'nope' as never }, 'overflow'],
      [{ directory, now: 'clock' as never }, 'now'],
      [{ directory, logger: {} as never }, 'logger'],
    ];
    for (const [options, option] of cases) {
      let error: unknown = null;
      try {
        new FileOutbox(options as FileOutboxOptions);
      } catch (e) {
        error = e;
      }
      expect(error, option).toBeInstanceOf(OutboxOptionError);
      expect((error as OutboxOptionError).option).toBe(option);
    }
    // 0 is settable: write on the next tick, keep no dead letters, no retention.
    const outbox = new FileOutbox({ directory, persistIntervalMs: 0, maxDeadLetters: 0, retentionMs: 0 });
    return outbox.close();
  });

  it('writes within persistIntervalMs without persist(), and rolls segments past maxSegmentBytes', async () => {
    const directory = tempDir();
    const outbox = createFileOutbox({ directory, persistIntervalMs: 20, maxSegmentBytes: 2048 });
    const records = makeRecords(100, 100);
    for (let i = 0; i < records.length; i += 10) {
      outbox.append(records.slice(i, i + 10));
      await new Promise((r) => setTimeout(r, 30));
    }
    const deadline = Date.now() + 5000;
    let segments: string[] = [];
    while (Date.now() < deadline) {
      segments = (await fs.readdir(directory)).filter((n) => /\.(open|log)$/.test(n) && /^\d{15}-/.test(n));
      const sizes = await Promise.all(
        segments.map(async (n) => (await fs.stat(path.join(directory, n))).size),
      );
      if (sizes.reduce((a, b) => a + b, 0) >= 100 * (100 + 24 + 36)) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(segments.length).toBeGreaterThan(1);
    expect(await drain(outbox, 30)).toEqual(records.map((r) => r.uuid));
    await outbox.close();
    // Wholly acknowledged segments are deleted once sealed.
    const reopened = createFileOutbox({ directory });
    expect(await reopened.claim(10, Infinity)).toBeNull();
    await reopened.close();
    const left = (await fs.readdir(directory)).filter((n) => /\.(open|log)$/.test(n) && /^\d{15}-/.test(n));
    expect(left).toEqual([]);
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('lets only one of two outboxes on one directory claim; the other answers null until it closes', async () => {
    const directory = tempDir();
    const a = createFileOutbox({ directory });
    const records = makeRecords(10);
    a.append(records.slice(0, 5));
    await a.persist();
    const b = createFileOutbox({ directory });
    b.append(records.slice(5));
    await b.persist();
    const first = await a.claim(100, Infinity);
    expect(await b.claim(100, Infinity)).toBeNull();
    expect(first?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
    expect((await b.size()).events).toBe(10);
    await a.close(); // releases the claim and the lock
    expect(await drain(b)).toEqual(records.map((r) => r.uuid));
    await b.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('a holder that stops claiming lets the delivery lock go, so another process can deliver', async () => {
    const directory = tempDir();
    const idle = createFileOutbox({ directory, heartbeatMs: 20, staleMs: 60_000 });
    const records = makeRecords(3);
    idle.append(records);
    await idle.persist();
    const held = await idle.claim(1, Infinity); // holds the lock now...
    expect(held?.records.length).toBe(1);
    const other = createFileOutbox({ directory, heartbeatMs: 20, staleMs: 60_000 });
    expect(await other.claim(10, Infinity)).toBeNull();
    // ...and keeps it while a batch is out; once settled and idle, lets it go.
    await new Promise((r) => setTimeout(r, 300));
    expect(await other.claim(10, Infinity)).toBeNull();
    await idle.release(held!);
    let batch = null;
    for (let i = 0; i < 100 && batch === null; i++) {
      await new Promise((r) => setTimeout(r, 20));
      batch = await other.claim(10, Infinity);
    }
    expect(batch?.records.length).toBe(3);
    await other.close();
    await idle.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('an unusable directory gives typed io errors, and append still never throws', async () => {
    const parent = tempDir();
    const notADir = path.join(parent, 'file');
    await fs.writeFile(notADir, 'x');
    const outbox = createFileOutbox({ directory: path.join(notADir, 'outbox') });
    expect(() => outbox.append(makeRecords(3))).not.toThrow();
    for (const attempt of [
      outbox.persist(),
      outbox.size(),
      outbox.claim(10, Infinity),
      outbox.getState('k'),
    ]) {
      const error = await (attempt as Promise<unknown>).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OutboxError);
      expect((error as OutboxError).kind).toBe('io');
    }
    await outbox.close();
    await fs.rm(parent, { recursive: true, force: true });
  });

  it("writes acks within persistIntervalMs under 'batch', and at once on persist()", async () => {
    const directory = tempDir();
    const holder = createFileOutbox({ directory, persistIntervalMs: 60_000 });
    holder.append(makeRecords(3));
    const batch = await holder.claim(10, Infinity);
    await holder.ack(batch!);
    const observer = createFileOutbox({ directory });
    expect((await observer.size()).events).toBe(3); // the ack is not on disk yet
    await holder.persist();
    expect((await observer.size()).events).toBe(0);
    await observer.close();
    await holder.close();
    await fs.rm(directory, { recursive: true, force: true });
  });
});
