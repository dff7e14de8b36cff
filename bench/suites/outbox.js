// @homing/client file outbox: append rate ('batch' and 'fsync' durability), cost of append() on
// the caller's turn, claim+ack drain rate, and heap while 1 000 000 events wait on disk.
// There is no direct competitor (posthog-node and @segment/analytics-node keep their queue in
// memory only), so the comparison is the naive design of seed 000: rewrite the whole queue as
// one JSON file on every event.
import {
  copyFileSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  writeSync,
  fsyncSync,
  rmSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as yieldTurn } from 'node:timers/promises';
// The package index re-exports the outbox once the client's entry point is wired; until then
// the suite imports the built Node outbox module directly.
import { createFileOutbox } from '../../packages/client/dist/outbox/node.js';

export const title = '@homing/client: file outbox (events of ~300 bytes)';
export const notes = [
  'Append rate: `append([record])` one event at a time, yielding to the event loop every 1 000',
  'events (as an app calling `track()` does), until `persist()` resolves: every event is on disk',
  "(in the OS page cache with 'batch', fsynced with 'fsync', grouped per 1 000 events or 100 ms).",
  "The competitor is seed 000's design, which rewrites the whole queue as one JSON file per event",
  '(with `fsync` for the fsync row): its cost grows with the queue, so it is measured on its first',
  '1 000 events (200 for fsync) only; on a longer queue it is slower still.',
  'Drain: `claim(100)` + `ack` until empty over 200 000 events on disk. Memory: heap growth after',
  'forced GC while 1 000 000 events wait on disk, in the process that wrote them and in a fresh',
  'outbox that indexes the directory and claims from it. No competitor keeps events on disk, so',
  'those rows have none.',
  'Many segments: a directory left by 5 000 short runs (one sealed segment of one event each, as a',
  'CLI leaves while the server is down); a fresh outbox is opened on it and timed until `size()`',
  'resolves (it has read every segment); the best of 3 opens.',
].join('\n');

const RECORD_BYTES = 300;

function makeRecord(i) {
  const uuid = `0190a0b0-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
  const head = `{"uuid":"${uuid}","event":"bench.event","distinct_id":"user-1","properties":{"p":"`;
  return { uuid, json: `${head}${'x'.repeat(RECORD_BYTES - head.length - 3)}"}}`, timestampMs: Date.now() };
}

function tempDir() {
  return mkdtempSync(path.join(os.tmpdir(), 'homing-bench-outbox-'));
}

function heapMb() {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

async function appendRate(durability, count) {
  const dir = tempDir();
  const outbox = createFileOutbox({ directory: dir, durability, maxEvents: 10_000_000, maxBytes: 2 ** 40 });
  const records = Array.from({ length: count }, (_, i) => makeRecord(i));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    outbox.append([records[i]]);
    if (i % 1000 === 999) await yieldTurn();
  }
  await outbox.persist();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await outbox.close();
  rmSync(dir, { recursive: true, force: true });
  return count / seconds;
}

/** Seed 000: the whole queue, rewritten as one JSON file on every event. */
function naiveAppendRate(count, fsync) {
  const dir = tempDir();
  const file = path.join(dir, 'buffer.json');
  const queue = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    queue.push(makeRecord(i));
    const fd = openSync(file, 'w');
    writeSync(fd, JSON.stringify(queue));
    if (fsync) fsyncSync(fd);
    closeSync(fd);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return count / seconds;
}

async function appendCallNs() {
  const dir = tempDir();
  const outbox = createFileOutbox({ directory: dir, maxEvents: 10_000_000, maxBytes: 2 ** 40 });
  const records = Array.from({ length: 10_000 }, (_, i) => makeRecord(i));
  const samples = [];
  for (let round = 0; round < 15; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < records.length; i++) outbox.append([records[i]]);
    samples.push(Number(process.hrtime.bigint() - t0) / records.length);
    await outbox.persist();
  }
  await outbox.close();
  rmSync(dir, { recursive: true, force: true });
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

async function fill(dir, count) {
  const outbox = createFileOutbox({ directory: dir, maxEvents: 10_000_000, maxBytes: 2 ** 40 });
  for (let i = 0; i < count; i++) {
    outbox.append([makeRecord(i)]);
    if (i % 5000 === 4999) await outbox.persist();
  }
  await outbox.persist();
  return outbox;
}

async function drainRate(count) {
  const dir = tempDir();
  const writer = await fill(dir, count);
  await writer.close();
  const outbox = createFileOutbox({ directory: dir, maxEvents: 10_000_000, maxBytes: 2 ** 40 });
  await outbox.size(); // index the directory before timing
  let drained = 0;
  const t0 = process.hrtime.bigint();
  for (;;) {
    const batch = await outbox.claim(100, 512 * 1024);
    if (batch === null) break;
    drained += batch.records.length;
    await outbox.ack(batch);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await outbox.close();
  rmSync(dir, { recursive: true, force: true });
  if (drained !== count) throw new Error(`drained ${drained} of ${count}`);
  return count / seconds;
}

async function memoryWithBacklog(count) {
  const dir = tempDir();
  const before = heapMb();
  const writer = await fill(dir, count);
  const afterWrite = heapMb() - before;
  const size = await writer.size();
  if (size.events !== count) throw new Error(`expected ${count} events, found ${size.events}`);
  await writer.close();
  const beforeReader = heapMb();
  const reader = createFileOutbox({ directory: dir, maxEvents: 10_000_000, maxBytes: 2 ** 40 });
  const batch = await reader.claim(100, 512 * 1024);
  if (batch?.records.length !== 100) throw new Error('claim failed');
  const readerSize = await reader.size();
  if (readerSize.events !== count) throw new Error(`reader sees ${readerSize.events} events`);
  const afterReader = heapMb() - beforeReader;
  await reader.close();
  rmSync(dir, { recursive: true, force: true });
  return { afterWrite, afterReader };
}

async function openManySegments(segments) {
  const dir = tempDir();
  const writer = createFileOutbox({ directory: dir });
  writer.append([makeRecord(0)]);
  await writer.persist();
  await writer.close();
  const one = readdirSync(dir).find((n) => /^\d{15}-\d+-[0-9a-f]{8}\.log$/.test(n));
  for (let i = 1; i < segments; i++) {
    const name = `0017000${String(i).padStart(8, '0')}-9${String(i).padStart(5, '0')}-abcdef01.log`;
    copyFileSync(path.join(dir, one), path.join(dir, name));
  }
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    const t0 = process.hrtime.bigint();
    const outbox = createFileOutbox({ directory: dir });
    const size = await outbox.size();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
    await outbox.close();
    if (size.events !== segments) throw new Error(`expected ${segments} events, found ${size.events}`);
  }
  rmSync(dir, { recursive: true, force: true });
  return best;
}

export async function run() {
  const rows = [];
  const batchRate = await appendRate('batch', 200_000);
  rows.push({
    work: "append, durability 'batch' (events/s until on disk)",
    homing: batchRate,
    competitor: 'seed 000: one JSON file rewritten per event (first 1 000)',
    competitorValue: naiveAppendRate(1000, false),
    unit: 'events/s',
    better: 'higher',
    goal: 'measured',
  });
  const fsyncRate = await appendRate('fsync', 100_000);
  rows.push({
    work: "append, durability 'fsync' (events/s until fsynced)",
    homing: fsyncRate,
    competitor: 'seed 000 + fsync per event (first 200)',
    competitorValue: naiveAppendRate(200, true),
    unit: 'events/s',
    better: 'higher',
    goal: 'measured',
  });
  rows.push({
    work: "append() on the caller's turn (ns per event)",
    homing: await appendCallNs(),
    competitor: '-',
    competitorValue: null,
    unit: 'ns',
    better: 'lower',
    goal: "no I/O on the caller's turn",
  });
  rows.push({
    work: 'drain: claim(100) + ack over 200 000 events on disk',
    homing: await drainRate(200_000),
    competitor: '-',
    competitorValue: null,
    unit: 'events/s',
    better: 'higher',
    goal: 'measured',
  });
  rows.push({
    work: 'open on 5 000 one-event segments, until size() resolves (ms)',
    homing: await openManySegments(5000),
    competitor: '-',
    competitorValue: null,
    unit: 'ms',
    better: 'lower',
    goal: 'measured',
  });
  const mem = await memoryWithBacklog(1_000_000);
  rows.push({
    work: 'heap growth, writer, 1 000 000 events waiting on disk',
    homing: mem.afterWrite,
    competitor: '-',
    competitorValue: null,
    unit: 'MB',
    better: 'lower',
    goal: '< 50 MB',
  });
  rows.push({
    work: 'heap growth, fresh outbox indexing and claiming from 1 000 000 on disk',
    homing: mem.afterReader,
    competitor: '-',
    competitorValue: null,
    unit: 'MB',
    better: 'lower',
    goal: '< 50 MB',
  });
  return rows;
}
