import { Buffer } from 'node:buffer';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../logger.js';
import { AppendBuffer, type GroupSummary, WRITE_CHUNK_BYTES } from './AppendBuffer.js';
import { HEADER_BYTES, decodePayload, readHeader } from './frame.js';
import type { SegmentWriter, WrittenGroup } from './SegmentWriter.js';

/** A segment writer in memory: keeps what each write was given (copied), fails the writes asked to. */
function memoryWriter(failWrites: ReadonlySet<number> = new Set()) {
  const file: Buffer[] = [];
  const sizes: number[] = [];
  let size = 0;
  let calls = 0;
  const writer = {
    async write(buffer: Buffer): Promise<WrittenGroup> {
      const call = calls++;
      if (failWrites.has(call)) throw new Error(`write ${call} failed`);
      // A copy: the caller may reuse the buffer as soon as the write resolves.
      file.push(Buffer.from(buffer));
      sizes.push(buffer.length);
      const start = size;
      size += buffer.length;
      return { base: 'seg', start, end: size };
    },
  } as unknown as SegmentWriter;
  return { writer, file, sizes };
}

function record(i: number, pad = 400) {
  const uuid = `uuid-${i}`;
  const json = JSON.stringify({ i, pad: 'x'.repeat(pad), name: i % 7 === 0 ? 'müller' : 'plain' });
  return {
    uuid,
    json,
    timestampMs: 1_000 + i,
    uuidBytes: Buffer.byteLength(uuid),
    jsonBytes: Buffer.byteLength(json),
  };
}

function decodeAll(bytes: Buffer): { uuid: string; json: string; ts: number }[] {
  const out: { uuid: string; json: string; ts: number }[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const header = readHeader(bytes, pos);
    expect(header).not.toBeNull();
    out.push({ ...decodePayload(bytes, pos, header!), ts: header!.timestampMs });
    pos += header!.frameBytes;
  }
  return out;
}

function makeBuffer(
  writer: SegmentWriter,
  written: GroupSummary[] = [],
  logger = silentLogger,
  freeBytes?: () => Promise<number>,
  directory = '/nonexistent',
) {
  return new AppendBuffer({
    ...(freeBytes === undefined ? {} : { freeBytes }),
    directory,
    durability: 'batch',
    persistIntervalMs: 60_000,
    flushEvents: 1_000_000,
    flushBytes: 2 ** 40,
    maxEvents: 1_000_000,
    maxBytes: 2 ** 40,
    writer,
    ready: Promise.resolve(),
    logger,
    onWritten: async (_written, group, frames) => {
      written.push(group);
      expect(frames.records).toHaveLength(group.events);
      expect(frames.offsets[0]).toBe(0);
    },
    onOverflow: () => {},
    onUnsaved: () => {},
  });
}

describe('AppendBuffer', () => {
  it('writes a large group in chunks of at most WRITE_CHUNK_BYTES, every record once and in order', async () => {
    const { writer, file, sizes } = memoryWriter();
    const groups: GroupSummary[] = [];
    const buffer = makeBuffer(writer, groups);
    const records = Array.from({ length: 6_000 }, (_, i) => record(i));
    for (const r of records) buffer.push(r);
    await buffer.flush();

    expect(sizes.length).toBeGreaterThan(2);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(WRITE_CHUNK_BYTES);
    const decoded = decodeAll(Buffer.concat(file));
    expect(decoded.map((d) => d.uuid)).toEqual(records.map((r) => r.uuid));
    expect(decoded.map((d) => d.json)).toEqual(records.map((r) => r.json));
    expect(decoded.map((d) => d.ts)).toEqual(records.map((r) => r.timestampMs));
    // Each chunk is reported with its own counts, which add up to the group's.
    expect(groups.reduce((n, g) => n + g.events, 0)).toBe(records.length);
    expect(groups.reduce((n, g) => n + g.bytes, 0)).toBe(records.reduce((n, r) => n + r.jsonBytes, 0));
    expect(groups[0]!.minTs).toBe(1_000);
    expect(groups.at(-1)!.maxTs).toBe(1_000 + records.length - 1);
    expect(buffer.events).toBe(0);
    expect(buffer.bytes).toBe(0);
  });

  it('gives a record larger than a chunk a write of its own', async () => {
    const { writer, file, sizes } = memoryWriter();
    const buffer = makeBuffer(writer);
    const big = record(1, WRITE_CHUNK_BYTES + 10);
    const records = [record(0), big, record(2)];
    for (const r of records) buffer.push(r);
    await buffer.flush();
    expect(sizes).toHaveLength(3);
    expect(sizes[1]).toBe(HEADER_BYTES + big.uuidBytes + big.jsonBytes);
    expect(decodeAll(Buffer.concat(file)).map((d) => d.json)).toEqual(records.map((r) => r.json));
  });

  it('keeps what a failed chunk and the chunks after it held, ahead of later records, and writes each once', async () => {
    // The first chunk is written, the second write fails: the rest of the group waits, in order.
    const { writer, file } = memoryWriter(new Set([1]));
    const buffer = makeBuffer(writer);
    const records = Array.from({ length: 6_000 }, (_, i) => record(i));
    for (const r of records) buffer.push(r);
    await expect(buffer.flush()).rejects.toThrow();
    const firstChunk = decodeAll(Buffer.concat(file)).length;
    expect(firstChunk).toBeGreaterThan(0);
    expect(firstChunk).toBeLessThan(records.length);
    expect(buffer.events).toBe(records.length - firstChunk);
    expect(buffer.bytes).toBe(records.slice(firstChunk).reduce((n, r) => n + r.jsonBytes, 0));

    const later = Array.from({ length: 10 }, (_, i) => record(10_000 + i));
    for (const r of later) buffer.push(r);
    await buffer.flush();
    const all = decodeAll(Buffer.concat(file)).map((d) => d.uuid);
    expect(all).toEqual([...records, ...later].map((r) => r.uuid));
    expect(buffer.events).toBe(0);
    await buffer.close();
  });

  it('counts the records of a write under way as pending (size() must not read 0 meanwhile)', async () => {
    let finish: (() => void) | undefined;
    const writer = {
      write: (buffer: Buffer) =>
        new Promise<WrittenGroup>((resolve) => {
          finish = () => resolve({ base: 'seg', start: 0, end: buffer.length });
        }),
    } as unknown as SegmentWriter;
    const buffer = makeBuffer(writer);
    const records = Array.from({ length: 50 }, (_, i) => record(i));
    for (const r of records) buffer.push(r);
    const flushed = buffer.flush();
    // The write starts after a look at the free space (statfs, in libuv's pool): wait for it.
    await vi.waitFor(() => expect(finish).toBeDefined());
    // Taken by the write: no longer waiting for one, still not on disk.
    expect(buffer.events).toBe(0);
    expect(buffer.pendingEvents).toBe(50);
    expect(buffer.pendingBytes).toBe(records.reduce((n, r) => n + r.jsonBytes, 0));
    expect(buffer.oldestTimestamp()).toBe(1_000);
    finish!();
    await flushed;
    expect(buffer.pendingEvents).toBe(0);
    expect(buffer.pendingBytes).toBe(0);
    expect(buffer.oldestTimestamp()).toBeNull();
  });

  it('a flush waits for the records buffered when it was asked, not for writes of records appended after', async () => {
    // A busy app appends and flushes every turn while a write is under way: chained one per
    // call, a claim's flush waited behind a write of each turn's records (seconds under load).
    const release: (() => void)[] = [];
    const writer = {
      write: (buffer: Buffer) =>
        new Promise<WrittenGroup>((resolve) => {
          release.push(() => resolve({ base: 'seg', start: 0, end: buffer.length }));
        }),
    } as unknown as SegmentWriter;
    const buffer = makeBuffer(writer);
    buffer.push(record(0));
    const first = buffer.flush();
    await vi.waitFor(() => expect(release).toHaveLength(1));
    const asked: Promise<void>[] = [];
    for (let i = 1; i <= 10; i++) {
      buffer.push(record(i));
      asked.push(buffer.flush());
    }
    release[0]!();
    await first;
    // One write takes records 1-10; another record arrives while it is under way.
    await vi.waitFor(() => expect(release).toHaveLength(2));
    buffer.push(record(11));
    let settled = false;
    void Promise.all(asked).then(() => (settled = true));
    release[1]!();
    await vi.waitFor(() => expect(settled).toBe(true));
    expect(release).toHaveLength(2);
    expect(buffer.events).toBe(1);
    const last = buffer.flush();
    await vi.waitFor(() => expect(release).toHaveLength(3));
    release[2]!();
    await last;
    expect(buffer.events).toBe(0);
    expect(buffer.pendingEvents).toBe(0);
  });

  it('warns about a write that keeps failing once a minute, not once a try', async () => {
    const writer = {
      write: () => Promise.reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })),
    } as unknown as SegmentWriter;
    const warnings: { message: string; data: unknown }[] = [];
    const logger = {
      ...silentLogger,
      warn: (message: string, data?: unknown) => void warnings.push({ message, data }),
    };
    const buffer = makeBuffer(writer, [], logger);
    for (let i = 0; i < 20; i++) {
      buffer.push(record(i));
      await expect(buffer.flush()).rejects.toThrow(/EIO/);
    }
    expect(warnings).toEqual([
      {
        message: 'outbox: write failed, will retry',
        data: expect.objectContaining({ failures: 1, waiting: 1 }),
      },
    ]);
    // Nothing was given up meanwhile: every record still waits, in order.
    expect(buffer.events).toBe(20);
    await buffer.close().catch(() => {});
  });

  it('an older, roomier answer about free space never undoes a newer one', async () => {
    const { writer } = memoryWriter();
    const answers: ((free: number) => void)[] = [];
    const freeBytes = () => new Promise<number>((resolve) => answers.push(resolve));
    const buffer = makeBuffer(writer, [], silentLogger, freeBytes);
    buffer.push(record(0));
    const first = buffer.flush();
    await vi.waitFor(() => expect(answers).toHaveLength(2));
    // answers[0]: the look off the write's path; answers[1]: the check the write waits for.
    answers[1]!(2 * 1024 * 1024);
    await first;
    answers[0]!(1024 ** 3);
    await new Promise((resolve) => setTimeout(resolve, 5));
    buffer.push(record(1));
    const second = buffer.flush();
    // Still checked before writing: the disk was last seen with 2 MiB free, not 1 GiB.
    await vi.waitFor(() => expect(answers).toHaveLength(3));
    answers[2]!(2 * 1024 * 1024);
    await second;
  });

  it('writeOnExit writes what is only in memory once: not a chunk already in the segment whose write has not resolved', async () => {
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'homing-append-exit-'));
    try {
      const landedChunks: Buffer[] = [];
      let landedCalls = 0;
      // The first chunk lands (onLanded), then its write hangs, as in the segment's check that
      // it is still ours; the process ends meanwhile.
      const writer = {
        write(buffer: Buffer, onLanded?: () => void): Promise<WrittenGroup> {
          landedChunks.push(Buffer.from(buffer));
          landedCalls++;
          onLanded?.();
          return new Promise<WrittenGroup>(() => {});
        },
      } as unknown as SegmentWriter;
      const buffer = makeBuffer(writer, [], silentLogger, async () => Infinity, directory);
      const first = Array.from({ length: 3_000 }, (_, i) => record(i));
      for (const r of first) buffer.push(r);
      void buffer.flush();
      await vi.waitFor(() => expect(landedCalls).toBe(1));
      const later = Array.from({ length: 5 }, (_, i) => record(10_000 + i));
      for (const r of later) buffer.push(r);
      buffer.writeOnExit();

      const inSegment = decodeAll(landedChunks[0]!).map((d) => d.uuid);
      expect(inSegment.length).toBeGreaterThan(0);
      expect(inSegment.length).toBeLessThan(first.length); // a chunk, not the whole group
      const exitFiles = (await fs.readdir(directory)).filter((n) => n.endsWith('.log'));
      expect(exitFiles).toHaveLength(1);
      const atExit = decodeAll(await fs.readFile(path.join(directory, exitFiles[0]!))).map((d) => d.uuid);
      // Every record on disk exactly once: the landed chunk in the segment, the rest at exit.
      expect([...inSegment, ...atExit]).toEqual([...first, ...later].map((r) => r.uuid));
    } finally {
      await fs.rm(directory, { recursive: true, force: true });
    }
  });
});
