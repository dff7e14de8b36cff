import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip as gunzipCallback, gzip as gzipCallback } from 'node:zlib';
import { afterEach } from 'vitest';
import type { ClientEventMap, ClientEventName, EmitClientEvent } from '../events.js';
import { silentLogger } from '../logger.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox, OutboxRecord } from '../outbox/outbox.js';
import type { Platform } from '../platform/platform.js';
import { bodyText } from '../platform/jsonParts.js';
import { Delivery, type DeliveryDeps } from './Delivery.js';
import type { DeliveryOptionsInput } from './deliveryOptions.js';
import { resolveDeliveryOptions } from './deliveryOptions.js';

const gzip = promisify(gzipCallback);
const gunzip = promisify(gunzipCallback);

/** One request the sink received. */
export interface SinkRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  /** Decoded (gunzipped when gzip) text. */
  readonly text: string;
  readonly gzipped: boolean;
  readonly atMs: number;
  /** The events' uuids, for the Homing and PostHog formats (`batch[].uuid`). */
  readonly uuids: string[];
}

/** What the sink does with a request: answer, reset the connection, or never answer. */
export type SinkReply =
  { status: number; headers?: Record<string, string>; body?: string } | 'reset' | 'hang';

export type SinkHandler = (request: SinkRequest) => SinkReply | Promise<SinkReply>;

/**
 * A node:http sink on 127.0.0.1 that records every request. It can be taken down (port closed:
 * connections are refused) and brought back up on the same port.
 */
export class Sink {
  readonly requests: SinkRequest[] = [];
  handler: SinkHandler = () => ({ status: 202, body: '{"accepted":0}' });
  private server = createServer((req, res) => void this.handle(req, res));
  private hanging: ServerResponse[] = [];
  port = 0;

  static async start(handler?: SinkHandler): Promise<Sink> {
    const sink = new Sink();
    if (handler) sink.handler = handler;
    await sink.up();
    return sink;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Every uuid accepted with a 2xx, in order (duplicates kept). */
  acceptedUuids: string[] = [];

  async up(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 100;
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    for (const res of this.hanging.splice(0)) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    const gzipped = req.headers['content-encoding'] === 'gzip';
    if (gzipped) raw = await gunzip(raw);
    const text = raw.toString('utf8');
    const request: SinkRequest = {
      path: req.url ?? '',
      headers: req.headers,
      text,
      gzipped,
      atMs: Date.now(),
      uuids: uuidsOf(text),
    };
    this.requests.push(request);
    const reply = await this.handler(request);
    if (reply === 'reset') {
      req.socket.destroy();
      return;
    }
    if (reply === 'hang') {
      this.hanging.push(res);
      return;
    }
    if (reply.status >= 200 && reply.status < 300) this.acceptedUuids.push(...request.uuids);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(reply.body ?? '{}');
  }
}

function uuidsOf(text: string): string[] {
  try {
    const body = JSON.parse(text) as { batch?: Array<{ uuid?: string; messageId?: string }> };
    return (body.batch ?? []).map((e) => e.uuid ?? e.messageId ?? '?');
  } catch {
    return [];
  }
}

/** A Node platform for tests: real zlib gzip and global fetch, a memory outbox, a fake exit hook. */
export function testPlatform(overrides: Partial<Platform> = {}): Platform & { exit(): Promise<void> } {
  const exitListeners = new Set<() => void | Promise<void>>();
  const onlineListeners = new Set<(online: boolean) => void>();
  const platform: Platform & { exit(): Promise<void>; setOnline?: (o: boolean) => void } = {
    name: 'node',
    env: () => undefined,
    createDefaultOutbox: () => createMemoryOutbox(),
    canGzip: true,
    gzip: async (body) => new Uint8Array(await gzip(bodyText(body))),
    fetch: (url, init) => fetch(url, init),
    isOnline: () => true,
    onOnlineChange: (l) => {
      onlineListeners.add(l);
      return () => onlineListeners.delete(l);
    },
    onExit: (l) => {
      exitListeners.add(l);
      return () => exitListeners.delete(l);
    },
    sendOnUnload: null,
    async exit() {
      await Promise.all([...exitListeners].map((l) => l()));
    },
    ...overrides,
  };
  return platform;
}

/** Records every client event emitted. */
export function recordEvents(): {
  emit: EmitClientEvent;
  of<K extends ClientEventName>(name: K): ClientEventMap[K][];
} {
  const seen: Array<{ name: ClientEventName; payload: unknown }> = [];
  return {
    emit: (name, payload) => {
      seen.push({ name, payload });
    },
    of: <K extends ClientEventName>(name: K) =>
      seen.filter((e) => e.name === name).map((e) => e.payload as ClientEventMap[K]),
  };
}

let counter = 0;
/** Records of Homing events with unique, time-ordered-enough uuids. */
export function makeRecords(
  n: number,
  extra: (i: number) => Record<string, unknown> = () => ({}),
): OutboxRecord[] {
  const out: OutboxRecord[] = [];
  for (let i = 0; i < n; i++) {
    const uuid = `0190${String(++counter).padStart(12, '0')}-0000-7000-8000-${String(i).padStart(12, '0')}`;
    const timestampMs = Date.now();
    const event = {
      uuid,
      event: 'test.event',
      distinct_id: 'user-1',
      timestamp: new Date(timestampMs).toISOString(),
      properties: { i, $lib: 'homing', $lib_version: '0.1.0', ...extra(i) },
    };
    out.push({ uuid, json: JSON.stringify(event), timestampMs });
  }
  return out;
}

export interface Harness {
  outbox: Outbox;
  delivery: Delivery;
  events: ReturnType<typeof recordEvents>;
  platform: ReturnType<typeof testPlatform>;
}

/** A started Delivery on a (given or new) memory outbox. */
export function startDelivery(
  input: DeliveryOptionsInput,
  options: {
    outbox?: Outbox;
    platform?: ReturnType<typeof testPlatform>;
    start?: boolean;
    keepRefused?: DeliveryDeps['keepRefused'];
    logger?: DeliveryDeps['logger'];
  } = {},
): Harness {
  const outbox = options.outbox ?? createMemoryOutbox();
  const platform = options.platform ?? testPlatform();
  const events = recordEvents();
  const delivery = new Delivery(outbox, resolveDeliveryOptions(input), {
    platform,
    logger: options.logger ?? silentLogger,
    emit: events.emit,
    ...(options.keepRefused === undefined ? {} : { keepRefused: options.keepRefused }),
  });
  if (options.start !== false) delivery.start();
  return { outbox, delivery, events, platform };
}

/** Appends and notifies, as the pipeline does. */
export function track(h: Harness, records: OutboxRecord[]): void {
  h.outbox.append(records);
  h.delivery.notify(
    records.length,
    records.reduce((n, r) => n + r.json.length, 0),
  );
}

/** Waits until `check` is true (polling), failing after `timeoutMs`. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export { gzip as gzipForTest };

/**
 * Work to undo after each test of the file (last added, first undone), and sinks that are taken
 * down then. Call once, at the top of a test file.
 */
export function useCleanups(): {
  add(cleanup: () => Promise<unknown>): void;
  sink(handler: SinkHandler): Promise<Sink>;
} {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    add: (cleanup) => void cleanups.push(cleanup),
    async sink(handler) {
      const s = await Sink.start(handler);
      cleanups.push(() => s.down());
      return s;
    },
  };
}
