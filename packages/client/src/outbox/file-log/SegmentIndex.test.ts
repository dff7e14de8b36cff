import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeRecords } from '../outbox.contract.js';
import { type EncodableRecord, encodeFrames } from './frame.js';
import { SegmentIndex, type SegmentIndexOptions } from './SegmentIndex.js';
import { OPEN_SUFFIX, SEALED_SUFFIX, newSegmentBase, parseSegmentFileName } from './segmentFiles.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await fs.rm(d, { recursive: true, force: true });
});

function encodable(n: number): EncodableRecord[] {
  return makeRecords(n, 80).map((r) => ({
    ...r,
    uuidBytes: Buffer.byteLength(r.uuid),
    jsonBytes: Buffer.byteLength(r.json),
  }));
}

/** A holder's index on a directory with one live segment of this process, as the writer leaves it. */
async function setUp(recentBytes = 1 << 20) {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-index-'));
  dirs.push(directory);
  const base = newSegmentBase(Date.now());
  const file = path.join(directory, base + OPEN_SUFFIX);
  const index = holderIndex(directory, (b) => b === base, recentBytes);
  return { directory, base, file, index };
}

/** A holder's index on `directory`, segments of `isOwn` bases this process's own. */
function holderIndex(
  directory: string,
  isOwn: (base: string) => boolean,
  recentBytes = 1 << 20,
  listeners: Pick<SegmentIndexOptions, 'onDrop' | 'onUnreadable'> = { onDrop: () => {} },
): SegmentIndex {
  return new SegmentIndex({
    directory,
    holder: true,
    retentionMs: 0,
    now: Date.now,
    staleMs: 60_000,
    fsync: false,
    recentBytes,
    isOwn,
    ...listeners,
  });
}

const summary = (records: readonly EncodableRecord[]) => ({
  events: records.length,
  bytes: records.reduce((n, r) => n + r.jsonBytes, 0),
  minTs: Math.min(...records.map((r) => r.timestampMs)),
  maxTs: Math.max(...records.map((r) => r.timestampMs)),
});

describe('SegmentIndex.noteOwnWrite', () => {
  it('counts each frame once and keeps all of them for claims when a refresh read the group first', async () => {
    // Two groups written; the index loads while the second is still landing: its scan reads the
    // first group and the first three frames of the second.
    const { base, file, index } = await setUp();
    const first = encodable(4);
    const second = encodable(6);
    const a = encodeFrames(first);
    const b = encodeFrames(second);
    await fs.writeFile(file, Buffer.concat([a.buffer, b.buffer.subarray(0, b.offsets[3])]));
    await index.load();
    expect(index.events).toBe(7);
    // The write notifications arrive after the load, in order.
    const aEnd = a.buffer.length;
    const bEnd = aEnd + b.buffer.length;
    await fs.appendFile(file, b.buffer.subarray(b.offsets[3]));
    index.noteOwnWrite(base, 0, aEnd, summary(first), { records: first, offsets: a.offsets });
    index.noteOwnWrite(base, aEnd, bEnd, summary(second), { records: second, offsets: b.offsets });
    expect(index.events).toBe(10);
    expect(index.bytes).toBe(summary([...first, ...second]).bytes);
    const seg = index.get(base)!;
    expect(seg.scanned).toBe(bEnd);
    // Every frame is kept for claims, with where the next one starts.
    const starts = [...a.offsets, ...b.offsets.map((o) => aEnd + o)];
    const uuids = [...first, ...second].map((r) => r.uuid);
    starts.forEach((at, i) => {
      expect(index.recent.get(base, at)?.record.uuid).toBe(uuids[i]);
      expect(index.recent.get(base, at)?.end).toBe(i + 1 < starts.length ? starts[i + 1] : bEnd);
    });
    // Counted once: a refresh finds nothing new.
    await index.refresh();
    expect(index.events).toBe(10);
  });

  it('does not keep frames that were claimed or gone since the refresh read them', async () => {
    const { base, file, index } = await setUp();
    const records = encodable(5);
    const g = encodeFrames(records);
    await fs.writeFile(file, g.buffer);
    await index.load();
    const seg = index.get(base)!;
    // Frame 0 acked (gone), frame 1 claimed, before the write's own notification arrives.
    expect(index.markGone(seg, 0, g.offsets[1]!, records[0]!.jsonBytes, records[0]!.timestampMs)).toBe(true);
    seg.claimed.add(g.offsets[1]!, g.offsets[2]!);
    index.noteOwnWrite(base, 0, g.buffer.length, summary(records), { records, offsets: g.offsets });
    expect(index.events).toBe(4);
    expect(index.recent.get(base, 0)).toBeUndefined();
    expect(index.recent.get(base, g.offsets[1]!)).toBeUndefined();
    expect(index.recent.get(base, g.offsets[2]!)?.record.uuid).toBe(records[2]!.uuid);
    expect(index.recent.bytes).toBe(records.slice(2).reduce((n, r) => n + r.jsonBytes, 0));
  });

  it('leaves a group that starts past what was read to the next refresh, and counts it then', async () => {
    const { base, file, index } = await setUp();
    const first = encodable(3);
    const second = encodable(3);
    const a = encodeFrames(first);
    const b = encodeFrames(second);
    await fs.writeFile(file, a.buffer.subarray(0, a.offsets[1]));
    await index.load();
    expect(index.events).toBe(1);
    await fs.appendFile(file, Buffer.concat([a.buffer.subarray(a.offsets[1]), b.buffer]));
    // The first group's notification is lost (the index was being replaced): the second starts
    // past what the index has read.
    index.noteOwnWrite(base, a.buffer.length, a.buffer.length + b.buffer.length, summary(second), {
      records: second,
      offsets: b.offsets,
    });
    expect(index.events).toBe(1);
    expect(index.recent.get(base, a.buffer.length)).toBeUndefined();
    await index.refresh();
    expect(index.events).toBe(6);
  });
});

describe("SegmentIndex: adopting a dead writer's segment", () => {
  it('keeps the sealed name when the writer sealed it and exited between the listing and the adoption', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-index-'));
    dirs.push(directory);
    const base = newSegmentBase(Date.now()).replace(`-${process.pid}-`, '-99999999-');
    const open = path.join(directory, base + OPEN_SUFFIX);
    const records = encodable(5);
    await fs.writeFile(open, encodeFrames(records).buffer);
    const index = holderIndex(directory, () => false);
    // The writer seals its segment and exits right after the index listed it as `.open`.
    (index as unknown as { ownerGone(): Promise<boolean> }).ownerGone = async () => {
      await fs.rename(open, path.join(directory, base + SEALED_SUFFIX));
      return true;
    };
    await index.load();
    const names = await fs.readdir(directory);
    const segmentFiles = names.filter((n) => n.endsWith(SEALED_SUFFIX) || n.endsWith(OPEN_SUFFIX));
    expect(segmentFiles).toEqual([base + SEALED_SUFFIX]);
    expect(parseSegmentFileName(segmentFiles[0]!)).not.toBeNull();
    expect(index.freeEvents()).toBe(5);
  });
});

describe('SegmentIndex.load of many small segments', () => {
  it('counts every event once, skips an unreadable segment and a torn tail, and tells each once', async () => {
    // Read several segments at once (`SCAN_CONCURRENCY`): what one read finds must never be
    // lost or counted twice by another under way at the same time.
    const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-index-'));
    dirs.push(directory);
    let expected = 0;
    let expectedBytes = 0;
    for (let i = 0; i < 300; i++) {
      const records = encodable(1 + (i % 3));
      expected += records.length;
      expectedBytes += summary(records).bytes;
      const base = `${String(1_700_000_000_000 + i).padStart(15, '0')}-${900_000 + i}-abcdef01`;
      await fs.writeFile(path.join(directory, base + SEALED_SUFFIX), encodeFrames(records).buffer);
    }
    // A directory where a segment should be: cannot be read, the rest still is.
    await fs.mkdir(path.join(directory, `001700000000500-999999-abcdef01${SEALED_SUFFIX}`));
    // A torn tail: the frame is counted, the half frame after it cut.
    const torn = encodeFrames(encodable(2)).buffer;
    const tornFile = path.join(directory, `001700000000600-999998-abcdef01${SEALED_SUFFIX}`);
    await fs.writeFile(tornFile, torn.subarray(0, torn.length - 10));
    expected += 1;
    const unreadable: string[] = [];
    const drops: string[] = [];
    const index = holderIndex(directory, () => false, 0, {
      onDrop: (reason, count) => {
        if (count > 0) drops.push(`${reason} ${count}`);
      },
      onUnreadable: (file) => unreadable.push(path.basename(file)),
    });
    await index.load();
    expect(index.events).toBe(expected);
    expect(index.segments.length).toBe(302);
    expect(drops).toEqual(['corrupt 1']);
    expect(unreadable).toEqual([`001700000000500-999999-abcdef01${SEALED_SUFFIX}`]);
    await index.refresh();
    expect(index.events).toBe(expected);
    expect(unreadable.length).toBe(1);
    expect(index.bytes - (index.get('001700000000600-999998-abcdef01')?.bytes ?? 0)).toBe(expectedBytes);
  });
});
