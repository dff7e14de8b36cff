import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Outbox, OutboxRecord } from '@homing/client';
import { createFileOutbox, createNodePlatform } from '@homing/client';
import type { CommandIo } from './outboxCommand.js';

/** A temp outbox directory holding `n` events (and optionally some dead letters). */
export async function seedOutbox(
  n: number,
  deadLetters = 0,
): Promise<{ dir: string; uuids: string[]; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
  const outbox = open(dir);
  const uuids: string[] = [];
  const now = Date.now();
  const records = Array.from({ length: n + deadLetters }, (_, i) => {
    const uuid = `01900000-0000-7000-8000-${String(i).padStart(12, '0')}`;
    uuids.push(uuid);
    const event = {
      uuid,
      event: i < deadLetters ? 'bad.event' : 'cli.test',
      distinct_id: 'd',
      timestamp: new Date(now - 60_000).toISOString(),
      properties: { i },
    };
    return { uuid, json: JSON.stringify(event), timestampMs: now - 60_000 };
  });
  outbox.append(records);
  await outbox.persist();
  if (deadLetters > 0) {
    const batch = await outbox.claim(deadLetters, Number.MAX_SAFE_INTEGER);
    await outbox.deadLetter(batch!.records, 'HTTP 400 Bad Request: invalid event');
    await outbox.ack(batch!);
  }
  await outbox.close();
  return { dir, uuids: uuids.slice(deadLetters), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An app's outbox with a 30-day retention (not the default 7) holding 10 events 10 days old and
 * 5 new ones, and 1 dead letter 10 days old: what a CLI applying its own defaults would cut.
 */
export async function seedLongRetentionOutbox(): Promise<{
  dir: string;
  uuids: string[];
  limits: { retentionMs: number; maxEvents: number };
  cleanup(): Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
  const limits = { retentionMs: 30 * DAY_MS, maxEvents: 200_000 };
  const now = Date.now();
  const record = (uuid: string, ageMs: number): OutboxRecord => ({
    uuid,
    json: JSON.stringify({
      uuid,
      event: 'cli.test',
      distinct_id: 'd',
      timestamp: new Date(now - ageMs).toISOString(),
      properties: {},
    }),
    timestampMs: now - ageMs,
  });
  const outbox = createFileOutbox({ directory: dir, ...limits });
  outbox.append([record('dead-0', 10 * DAY_MS)]);
  await outbox.persist();
  const batch = await outbox.claim(1, Number.MAX_SAFE_INTEGER);
  await outbox.deadLetter(batch!.records, 'HTTP 400 Bad Request');
  await outbox.ack(batch!);
  const uuids = [
    ...Array.from({ length: 10 }, (_, i) => `old-${i}`),
    ...Array.from({ length: 5 }, (_, i) => `new-${i}`),
  ];
  outbox.append(uuids.map((u) => record(u, u.startsWith('old') ? 10 * DAY_MS : 0)));
  await outbox.persist();
  await outbox.close();
  return { dir, uuids, limits, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under `dir` with its size, mtime and content, to show that nothing changed. */
export async function snapshotDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const st = await stat(file);
    out[file] = `${st.size} ${st.mtimeMs} ${(await readFile(file)).toString('base64')}`;
  }
  return out;
}

export function open(dir: string): Outbox {
  return createNodePlatform().createDefaultOutbox({ name: 'test', directory: dir });
}

/** What a command printed; `isTTY`: as if both streams were a terminal. */
export function captureIo(isTTY = false): CommandIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (t: string) => (out += t), isTTY },
    stderr: { write: (t: string) => (err += t), isTTY },
    out: () => out,
    err: () => err,
  };
}

export interface CliSink {
  url: string;
  uuids: string[];
  requests: number;
  status: number;
  /** Headers of every answer besides its content type (a Retry-After). */
  headers: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A local HTTP sink answering `status` (202 by default) with `body`, recording the uuids it
 * accepted.
 */
export async function startSink(status = 202, body = '{}'): Promise<CliSink> {
  const sink: CliSink = { url: '', uuids: [], requests: 0, status, headers: {}, close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      sink.requests++;
      let received = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') received = gunzipSync(received);
      if (sink.status >= 200 && sink.status < 300) {
        const parsed = JSON.parse(received.toString('utf8')) as { batch: Array<{ uuid: string }> };
        sink.uuids.push(...parsed.batch.map((e) => e.uuid));
      }
      res.writeHead(sink.status, { ...sink.headers, 'content-type': 'application/json' });
      res.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  sink.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  sink.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return sink;
}

/**
 * What an endpoint's answer or an event's name may carry to a terminal: a new window title, a
 * cleared screen, the clipboard written (OSC 52), the 8-bit CSI, DEL, and a line break followed
 * by a line that looks like the CLI's own.
 */
export const HOSTILE =
  '\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b]52;c;ZWNobyBwd25lZA==\x07 \u009b31m\x7f\nerror: FAKE LINE';

/** C0, DEL and C1: what a terminal may act on. */
export const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** A temp outbox holding one event named `event` for each name. */
export async function seedNamedEvents(names: string[]): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'homing-cli-'));
  const outbox = open(dir);
  const now = Date.now();
  outbox.append(
    names.map((event, i) => {
      const uuid = `01900000-0000-7000-9000-${String(i).padStart(12, '0')}`;
      const json = JSON.stringify({
        uuid,
        event,
        distinct_id: 'd',
        timestamp: new Date(now).toISOString(),
        properties: {},
      });
      return { uuid, json, timestampMs: now };
    }),
  );
  await outbox.persist();
  await outbox.close();
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
