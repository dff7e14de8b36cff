import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from './app.js';
import type { ServerOptions } from './serverOptions.js';
import { logCapture } from '../test/harness.js';
import { openSqlite, tempDir } from './store/sqlite.test-helpers.js';

/** `p`, or 'never' when it has not settled within `ms` (a bound on a hang, not a timing). */
const within = <T>(p: Promise<T>, ms = 15_000): Promise<T | 'never'> =>
  Promise.race([p, new Promise<'never'>((r) => setTimeout(() => r('never'), ms).unref())]);

interface Raw {
  socket: Socket;
  /** The server's end of the connection. */
  serverSide: Socket;
  received: () => string;
  closed: Promise<void>;
}

describe('buildServer: connections', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(options: Partial<ServerOptions> = {}) {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const project = await store.createProject('p');
    const app = buildServer({ logger: false, store, ...options });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    cleanups.push(async () => {
      await within(app.close());
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    /** A raw connection, once the server has accepted it. */
    const open = async (): Promise<Raw> => {
      const accepted = new Promise<Socket>((r) => app.server.once('connection', r));
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('error', () => {});
      const closed = new Promise<void>((r) => socket.on('close', () => r()));
      cleanups.push(async () => void socket.destroy());
      const serverSide = await accepted;
      return { socket, serverSide, received: () => received, closed };
    };
    const events = (distinctId?: string) =>
      store.queryEvents({ projectId: project.id, limit: 10, ...(distinctId ? { distinctId } : {}) });
    return { app, store, project, open, events };
  }

  const ingest = (key: string, body: string): string =>
    `POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${key}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('close() destroys a connection that never sent a byte, instead of waiting shutdownGraceMs for it', async () => {
    const s = await start({ shutdownGraceMs: 60_000 });
    const forced = vi.spyOn(s.app.server, 'closeAllConnections');
    const fresh = await s.open();
    expect(await within(s.app.close().then(() => 'closed'))).toBe('closed');
    expect(await within(fresh.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(fresh.received()).toBe('');
    expect(forced).not.toHaveBeenCalled();
  });

  it('close() leaves a connection that sent part of a request to finish it (answered 503 shutting-down)', async () => {
    const s = await start({ shutdownGraceMs: 60_000 });
    const partial = await s.open();
    const request = ingest(s.project.writeKey, JSON.stringify([{ event: 'late', distinct_id: 'd' }]));
    partial.socket.write(request.slice(0, 20));
    await vi.waitFor(() => expect(partial.serverSide.bytesRead).toBe(20));
    const closing = s.app.close();
    partial.socket.write(request.slice(20));
    expect(await within(partial.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(partial.received()).toMatch(/^HTTP\/1\.1 503 [^]*shutting-down/);
    expect(await within(closing.then(() => 'closed'))).toBe('closed');
    expect(await s.events()).toEqual([]);
  });

  it('does not run a request pipelined after an answer that closes the connection', async () => {
    const s = await start();
    const raw = await s.open();
    // A malformed body (400, Connection: close), then a valid ingest in the same write.
    raw.socket.write(
      ingest(s.project.writeKey, '[{"event":') +
        ingest(s.project.writeKey, JSON.stringify([{ event: 'e', distinct_id: 'pipelined' }])),
    );
    expect(await within(raw.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(raw.received().match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 400']);
    expect(await s.events('pipelined')).toEqual([]);
  });

  it('does not run a DELETE /api/persons/:id pipelined after such an answer: the person keeps their events', async () => {
    const s = await start();
    const now = new Date().toISOString();
    await s.store.insertEvents(s.project.id, [
      {
        uuid: '0193a5c0-0000-7000-8000-0000000000c1',
        event: 'e',
        distinctId: 'keep-me',
        timestamp: now,
        originalTimestamp: null,
        receivedAt: now,
        properties: {},
      },
    ]);
    const raw = await s.open();
    raw.socket.write(
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.project.writeKey}\r\nContent-Length: 10\r\n\r\n[{"event":` +
        `DELETE /api/persons/keep-me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${s.project.adminKey}\r\n\r\n`,
    );
    expect(await within(raw.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(raw.received().match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 400']);
    expect(await s.events('keep-me')).toHaveLength(1);
  });

  it('still answers pipelined requests in order when none closes the connection', async () => {
    const s = await start();
    const raw = await s.open();
    const bodies = [0, 1, 2].map((i) => JSON.stringify([{ event: 'e', distinct_id: `p${i}` }]));
    raw.socket.write(bodies.map((b) => ingest(s.project.writeKey, b)).join(''));
    await vi.waitFor(() => expect(raw.received().match(/HTTP\/1\.1 202/g)).toHaveLength(3));
    expect(await s.events()).toHaveLength(3);
  });

  it('many pipelined requests on one connection add one close listener, not one each (no leak warning)', async () => {
    const s = await start();
    const raw = await s.open();
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    cleanups.push(async () => void process.off('warning', onWarning));
    let most = 0;
    const once = raw.serverSide.once.bind(raw.serverSide);
    raw.serverSide.once = ((name: string, fn: (...args: unknown[]) => void) => {
      const r = once(name, fn);
      most = Math.max(most, raw.serverSide.listenerCount('close'));
      return r;
    }) as typeof raw.serverSide.once;
    const n = 12;
    const bodies = Array.from({ length: n }, (_, i) =>
      JSON.stringify([{ event: 'e', distinct_id: `p${i}` }]),
    );
    raw.socket.write(bodies.map((b) => ingest(s.project.writeKey, b)).join(''));
    await vi.waitFor(() => expect(raw.received().match(/HTTP\/1\.1 202/g)).toHaveLength(n));
    // Node emits the warning on a later tick.
    await new Promise((r) => setImmediate(r));
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    // Node's own (HTTP parser, keep-alive) and the one of waitForAnswerTurn, at most.
    expect(most).toBeLessThanOrEqual(4);
    expect(await s.store.queryEvents({ projectId: s.project.id, limit: 100 })).toHaveLength(n);
  });

  it('logs requests dropped that way once per interval, with how many, not a line each', async () => {
    const log = logCapture();
    const s = await start({ logger: { level: 'info', stream: log.stream } });
    const valid = Array.from({ length: 30 }, (_, i) =>
      ingest(s.project.writeKey, JSON.stringify([{ event: 'e', distinct_id: `q${i}` }])),
    );
    for (let round = 0; round < 2; round++) {
      const raw = await s.open();
      raw.socket.write(ingest(s.project.writeKey, '{not json') + valid.join(''));
      expect(await within(raw.closed.then(() => 'socket closed'))).toBe('socket closed');
    }
    await within(s.app.close());
    const lines = log
      .text()
      .split('\n')
      .filter((l) => l.includes('pipelined request not run'));
    expect(lines).toHaveLength(1);
    expect(await s.events()).toEqual([]);
  });

  it('a connection closed with many requests waiting runs none of them', async () => {
    const s = await start();
    const raw = await s.open();
    // A malformed body first (400, Connection: close), then ten valid ingests in the same write.
    const valid = Array.from({ length: 10 }, (_, i) =>
      ingest(s.project.writeKey, JSON.stringify([{ event: 'e', distinct_id: `q${i}` }])),
    );
    raw.socket.write(ingest(s.project.writeKey, '{not json') + valid.join(''));
    expect(await within(raw.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(raw.received().match(/HTTP\/1\.1 400/g)).toHaveLength(1);
    expect(raw.received()).not.toMatch(/HTTP\/1\.1 202/);
    expect(await s.events()).toEqual([]);
  });
});
