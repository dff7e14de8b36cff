import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { Outbox, OutboxDrop, OutboxRecord } from '../outbox.js';
import { makeRecords } from '../outbox.contract.js';
import { createFileOutbox } from './createFileOutbox.js';
import { HEADER_BYTES } from './frame.js';

/**
 * Damaged files: a truncated segment, flipped bytes in the middle, garbage at the end, a torn
 * `.open` segment of a dead process, a broken cursor. The outbox opens, reports what it cut
 * (drops with reason 'corrupt'), and delivers the rest, never a damaged record.
 */
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

/** Writes `records` into a fresh directory as one sealed segment; answers it and frame offsets. */
async function segmentWith(
  records: OutboxRecord[],
): Promise<{ dir: string; file: string; offsets: number[]; size: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'homing-corrupt-'));
  dirs.push(dir);
  const outbox = createFileOutbox({ directory: dir });
  outbox.append(records);
  await outbox.close();
  const names = (await fs.readdir(dir)).filter((n) => n.endsWith('.log') && /^\d{15}-/.test(n));
  expect(names.length).toBe(1);
  const offsets: number[] = [];
  let pos = 0;
  for (const r of records) {
    offsets.push(pos);
    pos += HEADER_BYTES + Buffer.byteLength(r.uuid) + Buffer.byteLength(r.json);
  }
  return { dir, file: path.join(dir, names[0]!), offsets, size: pos };
}

async function drainAll(
  dir: string,
): Promise<{ records: OutboxRecord[]; drops: OutboxDrop[]; outbox: Outbox }> {
  const outbox = createFileOutbox({ directory: dir, retentionMs: 0 });
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  const records: OutboxRecord[] = [];
  for (;;) {
    const batch = await outbox.claim(17, Infinity);
    if (batch === null) break;
    records.push(...batch.records);
    await outbox.ack(batch);
  }
  await outbox.close();
  return { records, drops, outbox };
}

const corrupt = (drops: OutboxDrop[]): number =>
  drops.filter((d) => d.reason === 'corrupt').reduce((n, d) => n + d.count, 0);
const ids = (records: readonly OutboxRecord[]): string[] => records.map((r) => r.uuid);

async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    const b = Buffer.alloc(1);
    await handle.read(b, 0, 1, offset);
    b[0] = b[0]! ^ 0x5a;
    await handle.write(b, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

describe('FileOutbox with damaged files', () => {
  it('cuts a torn last record off a truncated segment, reports it, and delivers the rest', async () => {
    const records = makeRecords(50, 200);
    const seg = await segmentWith(records);
    await fs.truncate(seg.file, seg.size - 37);
    const { records: got, drops } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids(records.slice(0, 49)));
    expect(corrupt(drops)).toBe(1);
    expect(drops.find((d) => d.reason === 'corrupt')?.bytes).toBe(seg.size - 37 - seg.offsets[49]!);
  });

  it('keeps every whole record before a cut in the middle of the file', async () => {
    const records = makeRecords(50, 200);
    const seg = await segmentWith(records);
    const cut = seg.offsets[20]! + 100;
    await fs.truncate(seg.file, cut);
    // Cut in place on open: a second open has nothing more to report.
    const outbox = createFileOutbox({ directory: seg.dir });
    let reported = 0;
    outbox.onDrop((d) => (reported += d.reason === 'corrupt' ? d.count : 0));
    expect((await outbox.size()).events).toBeGreaterThanOrEqual(0);
    const batch = await outbox.claim(100, Infinity);
    expect(ids(batch!.records)).toEqual(ids(records.slice(0, 20)));
    expect(reported).toBe(1);
    expect((await fs.stat(seg.file)).size).toBe(seg.offsets[20]);
    await outbox.release(batch!);
    await outbox.close();
  });

  it('skips a record whose payload has a flipped byte and keeps the ones after it', async () => {
    const records = makeRecords(40, 300);
    const seg = await segmentWith(records);
    await flipByte(seg.file, seg.offsets[17]! + HEADER_BYTES + 100);
    const { records: got, drops } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids([...records.slice(0, 17), ...records.slice(18)]));
    expect(got.map((r) => r.json)).toEqual(
      [...records.slice(0, 17), ...records.slice(18)].map((r) => r.json),
    );
    expect(corrupt(drops)).toBe(1);
  });

  it('finds the next record after a flipped byte in a header (its length no longer trusted)', async () => {
    const records = makeRecords(40, 300);
    const seg = await segmentWith(records);
    await flipByte(seg.file, seg.offsets[9]! + 5); // inside the json length field
    const { records: got, drops } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids([...records.slice(0, 9), ...records.slice(10)]));
    expect(corrupt(drops)).toBe(1);
    expect(drops.find((d) => d.reason === 'corrupt')?.bytes).toBe(seg.offsets[10]! - seg.offsets[9]!);
  });

  it('drops garbage appended after the last record', async () => {
    const records = makeRecords(10, 100);
    const seg = await segmentWith(records);
    await fs.appendFile(seg.file, Buffer.from('not a frame at all, just noise'.repeat(5)));
    const { records: got, drops } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids(records));
    expect(corrupt(drops)).toBe(1);
  });

  it("adopts a dead process's torn .open segment: cuts the tail, seals it, delivers the rest", async () => {
    const records = makeRecords(10, 150);
    const seg = await segmentWith(records);
    const deadPid = 99_999_999;
    const orphan = path.join(
      seg.dir,
      path
        .basename(seg.file)
        .replace(/-\d+-/, `-${deadPid}-`)
        .replace(/\.log$/, '.open'),
    );
    await fs.rename(seg.file, orphan);
    await fs.truncate(orphan, seg.size - 10);
    const { records: got, drops } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids(records.slice(0, 9)));
    expect(corrupt(drops)).toBe(1);
    expect(await fs.readdir(seg.dir).then((n) => n.filter((x) => x.endsWith('.open')))).toEqual([]);
  });

  it('skips a record damaged after the outbox indexed it, at claim time', async () => {
    const records = makeRecords(10, 150);
    const seg = await segmentWith(records);
    // No claim cache: the first claim would read ahead and keep the rest, checked, in memory,
    // and the second would send that copy and never read the damaged bytes (see below).
    const outbox = createFileOutbox({ directory: seg.dir, claimCacheBytes: 0 });
    let reported = 0;
    outbox.onDrop((d) => (reported += d.reason === 'corrupt' ? d.count : 0));
    expect((await outbox.size()).events).toBe(10);
    const first = await outbox.claim(2, Infinity); // becomes the holder and indexes the segment
    await flipByte(seg.file, seg.offsets[5]! + HEADER_BYTES + 50);
    const rest = await outbox.claim(100, Infinity);
    expect(ids([...first!.records, ...rest!.records])).toEqual(
      ids([...records.slice(0, 5), ...records.slice(6)]),
    );
    expect(reported).toBe(1);
    expect((await outbox.size()).events).toBe(9);
    await outbox.close();
  });

  it('sends the copy a claim read ahead and checked, when the bytes on disk are damaged after', async () => {
    const records = makeRecords(10, 150);
    const seg = await segmentWith(records);
    const outbox = createFileOutbox({ directory: seg.dir });
    let reported = 0;
    outbox.onDrop((d) => (reported += d.reason === 'corrupt' ? d.count : 0));
    const first = await outbox.claim(2, Infinity);
    await flipByte(seg.file, seg.offsets[5]! + HEADER_BYTES + 50);
    const rest = await outbox.claim(100, Infinity);
    expect(ids([...first!.records, ...rest!.records])).toEqual(ids(records));
    expect(rest!.records.map((r) => r.json)).toEqual(records.slice(2).map((r) => r.json));
    expect(reported).toBe(0);
    await outbox.ack(first!);
    await outbox.ack(rest!);
    expect((await outbox.size()).events).toBe(0);
    await outbox.close();
  });

  it('a broken cursor file loses nothing: records are delivered again (at least once)', async () => {
    const records = makeRecords(10, 100);
    const seg = await segmentWith(records);
    const outbox = createFileOutbox({ directory: seg.dir });
    const batch = await outbox.claim(4, Infinity);
    await outbox.ack(batch!);
    await outbox.close();
    await fs.writeFile(path.join(seg.dir, 'cursor.json'), '{"v":1,"removed":{"trunc');
    const { records: got } = await drainAll(seg.dir);
    expect(ids(got)).toEqual(ids(records));
  });

  it('a file in place of state/ is moved aside: delivery and the state go on', async () => {
    const { dir } = await segmentWith(makeRecords(3));
    await fs.rm(path.join(dir, 'state'), { recursive: true, force: true });
    await fs.writeFile(path.join(dir, 'state'), 'x');
    // Before, every claim failed (ENOTDIR listing state/) and nothing was ever sent.
    const { records } = await drainAll(dir);
    expect(records).toHaveLength(3);
    const aside = (await fs.readdir(dir)).filter((n) => n.startsWith('state.'));
    expect(aside).toEqual([expect.stringMatching(/^state\.\d+\.in-the-way$/)]);
    expect(await fs.readFile(path.join(dir, aside[0]!), 'utf8')).toBe('x');
    const again = createFileOutbox({ directory: dir });
    await again.setState('k', 1);
    expect(await again.getState('k')).toBe(1);
    await again.close();
  });

  it('a file put in place of state/ while the outbox is open does not fail the claims', async () => {
    const { dir } = await segmentWith(makeRecords(2));
    const outbox = createFileOutbox({ directory: dir });
    await outbox.size();
    await fs.rm(path.join(dir, 'state'), { recursive: true, force: true });
    await fs.writeFile(path.join(dir, 'state'), 'x');
    const batch = await outbox.claim(10, Infinity);
    expect(batch?.records).toHaveLength(2);
    await outbox.ack(batch!);
    await outbox.close();
  });

  it('never throws and never delivers a damaged record, whatever bytes are flipped or cut', async () => {
    const records = makeRecords(30, 120);
    const pristine = await segmentWith(records);
    const original = await fs.readFile(pristine.file);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.nat(original.length - 1), xor: fc.integer({ min: 1, max: 255 }) }), {
          maxLength: 6,
        }),
        fc.option(fc.nat(original.length), { nil: undefined }),
        async (flips, cut) => {
          const damaged = Buffer.from(original);
          for (const f of flips) damaged[f.at] = damaged[f.at]! ^ f.xor;
          await fs.writeFile(pristine.file, cut === undefined ? damaged : damaged.subarray(0, cut));
          await fs.rm(path.join(pristine.dir, 'cursor.json'), { force: true });
          const { records: got } = await drainAll(pristine.dir);
          // What comes out is a subsequence of what went in, each record exactly as written.
          let j = 0;
          for (const r of got) {
            while (j < records.length && records[j]!.uuid !== r.uuid) j++;
            expect(j).toBeLessThan(records.length);
            expect(r.json).toBe(records[j]!.json);
            j++;
          }
          if (flips.length === 0 && cut === undefined) expect(got.length).toBe(records.length);
          // Drained segments are deleted; put the file back for the next run.
          await fs.writeFile(pristine.file, original);
        },
      ),
      { numRuns: 40 },
    );
  });
});
