import fsCallbacks, { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { OutboxError, OutboxOptionError } from '../errors.js';
import type { Outbox } from '../outbox.js';
import { describeOutboxContract, drain, makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import { FileOutbox } from './FileOutbox.js';
import type { FileOutboxOptions } from './options.js';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'homing-outbox-'));
}

// Claims take recently written records from memory (`claimCacheBytes`) and the rest from disk:
// each path, and the two mixed in one claim (a cache of a few records), keeps the contract.
const variants = [
  { durability: 'batch', modelRuns: 25 },
  { durability: 'fsync', modelRuns: 8 },
  { durability: 'memory', modelRuns: 8 },
  { durability: 'batch', modelRuns: 15, claimCacheBytes: 0 },
  { durability: 'batch', modelRuns: 15, claimCacheBytes: 300 },
] as const;
for (const variant of variants) {
  const { durability } = variant;
  const claimCacheBytes = 'claimCacheBytes' in variant ? variant.claimCacheBytes : undefined;
  const label =
    claimCacheBytes === undefined ? durability : `${durability}, claim cache ${claimCacheBytes} B`;
  describeOutboxContract(`FileOutbox (${label})`, {
    persistent: true,
    modelRuns: variant.modelRuns,
    async create(options) {
      const dir = tempDir();
      const make = (): Outbox =>
        createFileOutbox({
          directory: dir,
          durability,
          maxSegmentBytes: 4096,
          ...(claimCacheBytes === undefined ? {} : { claimCacheBytes }),
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
      [{ directory, claimCacheBytes: -1 }, 'claimCacheBytes'],
      // Timers past 2^31-1 ms fire after 1 ms (and Node warns on stderr).
      [{ directory, persistIntervalMs: 2 ** 31 }, 'persistIntervalMs'],
      [{ directory, heartbeatMs: 3e9, staleMs: 9e9 }, 'heartbeatMs'],
      [{ directory, staleMs: 1e15 }, 'staleMs'],
      [{ directory, claimCacheBytes: 1.5 }, 'claimCacheBytes'],
      [{ directory, claimCacheBytes: '1MB' as never }, 'claimCacheBytes'],
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

  it('close() deletes the segment it sealed when all of it was delivered (nothing left for the next run)', async () => {
    const directory = tempDir();
    const outbox = createFileOutbox({ directory });
    const records = makeRecords(500, 200);
    outbox.append(records);
    await outbox.persist();
    expect(await drain(outbox, 100)).toEqual(records.map((r) => r.uuid));
    await outbox.close();
    // The holder used to delete with an index that still took the sealed segment for one being
    // written: a CLI run left its whole, delivered segment on disk until the next run.
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
    // a's own records at least (b's segment, new since a indexed the directory, is looked for
    // within a second or once a has nothing else to claim), in order.
    const claimed = first!.records.map((r) => r.uuid);
    expect(claimed.length).toBeGreaterThanOrEqual(5);
    expect(claimed).toEqual(records.slice(0, claimed.length).map((r) => r.uuid));
    expect((await b.size()).events).toBe(10);
    await a.close(); // releases the claim and the lock
    expect(await drain(b)).toEqual(records.map((r) => r.uuid));
    await b.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('closed before its open finished, it leaves the delivery lock free for the next outbox', async () => {
    const directory = tempDir();
    const first = new FileOutbox({ directory });
    const records = makeRecords(1);
    first.append(records);
    await first.persist();
    await first.close();
    const early = new FileOutbox({ directory });
    await early.close();
    // Its open used to ask for the lock after close() had let it go: the lock stayed, held by a
    // closed outbox with no heartbeat, and every other outbox waited staleMs (30 s) to claim.
    await early.opened();
    await new Promise((r) => setTimeout(r, 200));
    await expect(fs.access(path.join(directory, 'delivery.lock'))).rejects.toThrow();
    const next = new FileOutbox({ directory });
    const batch = await next.claim(10, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
    await next.ack(batch!);
    await next.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  // A write per append: groups land while size() reads the directory, some before its refresh
  // reads our segment, some after. They used to be counted nowhere once their write resolved
  // (no longer in the buffer, in the index only once the serial section let `afterWrite` run),
  // and twice while it waited for its datasync (still in the buffer, and read by the refresh).
  it.each(['memory', 'fsync'] as const)(
    'size() counts the records of a group that is landing exactly once (%s)',
    async (durability) => {
      const directory = tempDir();
      const outbox = new FileOutbox({ directory, durability, flushEvents: 1, maxSegmentBytes: 1024 });
      let appended = 0;
      let dead = 0;
      const wrong: string[] = [];
      for (let round = 0; round < 40; round++) {
        outbox.append(makeRecords(3, 150));
        const batch = await outbox.claim(1, Infinity);
        await outbox.deadLetter(batch!.records, 'HTTP 400');
        outbox.append(makeRecords(2, 150));
        outbox.append(makeRecords(1, 150));
        appended += 6;
        dead++;
        const size = await outbox.size();
        if (size.events !== appended - dead)
          wrong.push(`round ${round}: ${size.events} of ${appended - dead}`);
      }
      expect(wrong).toEqual([]);
      expect((await outbox.size()).events).toBe(appended - dead);
      await outbox.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  );

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

  // `createFileOutbox` falls back to memory instead (unwritable.test.ts); the class itself answers so.
  it('an unusable directory gives typed io errors, and append still never throws', async () => {
    const parent = tempDir();
    const notADir = path.join(parent, 'file');
    await fs.writeFile(notADir, 'x');
    const outbox = new FileOutbox({ directory: path.join(notADir, 'outbox') });
    expect(() => outbox.append(makeRecords(3))).not.toThrow();
    // Settled as they come: one awaited after another would leave the later ones rejected with
    // nobody listening meanwhile.
    const fromMemory = outbox.claim(10, Infinity);
    const attempts = [outbox.persist(), outbox.size(), outbox.getState('k')].map((attempt) =>
      (attempt as Promise<unknown>).then(
        () => null,
        (e: unknown) => e,
      ),
    );
    for (const attempt of attempts) {
      const error = await attempt;
      expect(error).toBeInstanceOf(OutboxError);
      expect((error as OutboxError).kind).toBe('io');
    }
    // What could not be written is still sent, from memory; with nothing left there, a claim
    // says why nothing can be claimed.
    const batch = await fromMemory;
    expect(batch?.records).toHaveLength(3);
    await outbox.ack(batch!);
    const empty = await outbox.claim(10, Infinity).then(
      () => null,
      (e: unknown) => e,
    );
    expect(empty).toBeInstanceOf(OutboxError);
    expect((empty as OutboxError).kind).toBe('io');
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

  it('persistOnExit writes, synchronously, the appends and acks still only in memory', async () => {
    const directory = tempDir();
    const holder = createFileOutbox({ directory, persistIntervalMs: 60_000 });
    const delivered = makeRecords(3);
    holder.append(delivered);
    const batch = await holder.claim(10, Infinity);
    await holder.ack(batch!);
    const waiting = makeRecords(4);
    holder.append(waiting);
    const observer = createFileOutbox({ directory });
    expect((await observer.size()).events).toBe(3); // neither the ack nor the appends are on disk
    holder.persistOnExit!();
    // No await between: what a process ending in this turn leaves is what the next run finds.
    expect((await observer.size()).events).toBe(4);
    await observer.close();
    await holder.close(); // lets the lock go (the process that ended would leave it stale)
    const next = createFileOutbox({ directory });
    expect(new Set(await drain(next))).toEqual(new Set(waiting.map((r) => r.uuid)));
    await next.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('persistOnExit called again writes what was appended since, in order (an app tracking in its own exit listener)', async () => {
    const directory = tempDir();
    const holder = createFileOutbox({ directory, persistIntervalMs: 60_000 });
    const first = makeRecords(2);
    holder.append(first);
    holder.persistOnExit!();
    const later = makeRecords(300);
    for (const r of later) {
      holder.append([r]);
      holder.persistOnExit!();
    }
    await holder.close(); // as the process that ended: nothing of it stays open
    const next = createFileOutbox({ directory });
    expect(await drain(next)).toEqual([...first, ...later].map((r) => r.uuid));
    await next.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it("persistOnExit under 'fsync' does not write again a group already in its segment, waiting for its datasync", async () => {
    const directory = tempDir();
    const probe = await fs.open(path.join(directory, 'probe'), 'w');
    const handleProto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
    await probe.close();
    await fs.rm(path.join(directory, 'probe'));
    let syncing = false;
    const datasync = vi.spyOn(handleProto, 'datasync').mockImplementation(() => {
      syncing = true;
      return new Promise<void>(() => {});
    });
    const holder = createFileOutbox({ directory, durability: 'fsync' });
    try {
      holder.append(makeRecords(10));
      await vi.waitFor(() => expect(syncing).toBe(true));
      holder.append(makeRecords(3));
      holder.persistOnExit!();
    } finally {
      datasync.mockRestore();
    }
    const observer = createFileOutbox({ directory });
    expect((await observer.size()).events).toBe(13);
    await observer.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('persistOnExit while records are being moved to the dead letters leaves the acks unsaved, never losing those records', async () => {
    const directory = tempDir();
    const holder = createFileOutbox({ directory, persistIntervalMs: 60_000 });
    holder.append(makeRecords(3));
    await holder.persist();
    const delivered = await holder.claim(1, Infinity);
    await holder.ack(delivered!);
    const refused = await holder.claim(10, Infinity);
    // The dead-letter store's append hangs, as when the process ends in the middle of it.
    const realOpen = fs.open.bind(fs);
    let hanging = false;
    const open = vi.spyOn(fs, 'open').mockImplementation(((file: string, ...rest: unknown[]) => {
      if (String(file).endsWith('dead-letters.log')) {
        hanging = true;
        return new Promise(() => {});
      }
      return (realOpen as (...a: unknown[]) => unknown)(file, ...rest);
    }) as typeof fs.open);
    try {
      void holder.deadLetter(refused!.records, 'refused').catch(() => {});
      await vi.waitFor(() => expect(hanging).toBe(true));
      holder.persistOnExit!();
    } finally {
      open.mockRestore();
    }
    // Nothing is marked gone that is not stored somewhere: the two refused ones are still queued
    // (and so is the delivered one, whose ack was left unsaved: it is sent again, not lost).
    const observer = createFileOutbox({ directory });
    expect(await observer.size()).toMatchObject({ events: 3, deadLetters: 0 });
    await observer.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('claims what it wrote lately without opening a file, and reads disk past its claim cache', async () => {
    const opened = async (claimCacheBytes: number | undefined): Promise<number[]> => {
      const directory = tempDir();
      const outbox = createFileOutbox({
        directory,
        ...(claimCacheBytes === undefined ? {} : { claimCacheBytes }),
      });
      const records = makeRecords(300, 60);
      // The first claim takes the lock and indexes the directory; count the claims after it.
      outbox.append(records.slice(0, 1));
      await outbox.ack((await outbox.claim(1, Infinity))!);
      outbox.append(records.slice(1));
      await outbox.persist();
      // Segments are opened through the callback API (`SegmentFile`), other files through promises.
      const spy = vi.spyOn(fs, 'open');
      const segmentSpy = vi.spyOn(fsCallbacks, 'open');
      const counts: number[] = [];
      const claimed: string[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          spy.mockClear();
          segmentSpy.mockClear();
          const batch = await outbox.claim(100, Infinity);
          counts.push(spy.mock.calls.length + segmentSpy.mock.calls.length);
          claimed.push(...batch!.records.map((r) => r.uuid));
          await outbox.ack(batch!);
        }
      } finally {
        spy.mockRestore();
        segmentSpy.mockRestore();
      }
      // Whichever way they were read, they are the records, in order, each once.
      expect(claimed).toEqual(records.slice(1, 300).map((r) => r.uuid));
      await outbox.close();
      await fs.rm(directory, { recursive: true, force: true });
      return counts;
    };
    expect(await opened(undefined)).toEqual([0, 0, 0]);
    expect((await opened(0)).every((n) => n > 0)).toBe(true);
    // 150 records of ~60 bytes fit: the first batch from memory, the rest from disk.
    const mixed = await opened(150 * 60);
    expect(mixed[0]).toBe(0);
    expect(mixed[2]).toBeGreaterThan(0);
  });

  it('does not read the directory again for its first claim when it has just indexed it', async () => {
    const directory = tempDir();
    const outbox = createFileOutbox({ directory });
    const records = makeRecords(5, 60);
    outbox.append(records);
    await outbox.persist(); // opened: the lock is taken and the directory indexed
    const listed = vi.spyOn(fs, 'readdir');
    try {
      const batch = await outbox.claim(100, Infinity);
      expect(batch!.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
      // The outbox directory is not listed (`state/` is, for other processes' clear requests).
      expect(listed.mock.calls.filter(([dir]) => dir === directory)).toEqual([]);
    } finally {
      listed.mockRestore();
    }
    await outbox.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('keeps the oldest frames in a full claim cache while appends go on, so a disk read serves several claims', async () => {
    const directory = tempDir();
    // Room for 50 records of 60 bytes; 100 wait when delivery starts, 10 more come per claim.
    const outbox = createFileOutbox({ directory, claimCacheBytes: 50 * 60 });
    outbox.append(makeRecords(1, 60));
    await outbox.ack((await outbox.claim(1, Infinity))!);
    const records = makeRecords(300, 60);
    outbox.append(records.slice(0, 100));
    await outbox.persist();
    const spy = vi.spyOn(fs, 'open');
    const claimed: string[] = [];
    let claimsThatOpened = 0;
    try {
      for (let round = 0; round < 20; round++) {
        outbox.append(records.slice(100 + round * 10, 110 + round * 10));
        await outbox.persist();
        spy.mockClear();
        const batch = await outbox.claim(10, Infinity);
        if (spy.mock.calls.length > 0) claimsThatOpened++;
        claimed.push(...batch!.records.map((r) => r.uuid));
        await outbox.ack(batch!);
      }
    } finally {
      spy.mockRestore();
    }
    expect(claimed).toEqual(records.slice(0, 200).map((r) => r.uuid));
    // Keeping the newest groups as room came back, 10 of the 20 claims read disk; keeping the
    // oldest, a disk read fills the room ahead of the claims and serves the next ones (5 here).
    expect(claimsThatOpened).toBeLessThanOrEqual(6);
    await outbox.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('reads ahead of a claim into the claim cache: after a restart, one read serves the next claims', async () => {
    const directory = tempDir();
    const first = createFileOutbox({ directory });
    const records = makeRecords(500, 60);
    first.append(records);
    await first.close();
    const outbox = createFileOutbox({ directory });
    const spy = vi.spyOn(fs, 'open');
    const claimed: string[] = [];
    const opens: number[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        spy.mockClear();
        const batch = await outbox.claim(100, Infinity);
        opens.push(spy.mock.calls.length);
        claimed.push(...batch!.records.map((r) => r.uuid));
        await outbox.ack(batch!);
      }
    } finally {
      spy.mockRestore();
    }
    expect(claimed).toEqual(records.map((r) => r.uuid));
    expect(opens[0]).toBeGreaterThan(0);
    expect(opens.slice(1)).toEqual([0, 0, 0, 0]);
    await outbox.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it("under 'memory', a claim writes what is buffered even when a whole batch waits on disk", async () => {
    const directory = tempDir();
    const holder = createFileOutbox({ directory, durability: 'memory' });
    holder.append(makeRecords(300, 60));
    await holder.persist();
    holder.append(makeRecords(5, 60, Date.now() + 1));
    await holder.claim(100, Infinity);
    const observer = createFileOutbox({ directory });
    expect((await observer.size()).events).toBe(305);
    await observer.close();
    await holder.close();
    await fs.rm(directory, { recursive: true, force: true });
  });

  it('gives the claim cache back as records are acked, and claims released records again from it', async () => {
    const directory = tempDir();
    const outbox = new FileOutbox({ directory });
    const cacheBytes = (): number =>
      (outbox as unknown as { holder: { index: { recent: { bytes: number } } } }).holder.index.recent.bytes;
    outbox.append(makeRecords(1));
    await outbox.ack((await outbox.claim(1, Infinity))!);
    const records = makeRecords(50, 100);
    outbox.append(records);
    await outbox.persist();
    const first = await outbox.claim(50, Infinity);
    await outbox.release(first!);
    const again = await outbox.claim(50, Infinity);
    expect(again!.records.map((r) => r.json)).toEqual(records.map((r) => r.json));
    expect(cacheBytes()).toBe(again!.bytes);
    await outbox.ack(again!);
    expect(cacheBytes()).toBe(0);
    await outbox.close();
    await fs.rm(directory, { recursive: true, force: true });
  });
});
