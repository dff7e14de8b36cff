import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from './app.js';
import type { ServerOptions } from './serverOptions.js';
import { NoopStore } from './store/noop.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** A server on a no-op store, listening on loopback. */
async function listening(options: Partial<ServerOptions> = {}) {
  const store = new NoopStore();
  const app = buildServer({ store, logger: false, ...options });
  closers.push(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const metrics = async (): Promise<string> => (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return { store, app, port, metrics };
}

interface Raw {
  socket: Socket;
  /** The server's end of the connection. */
  serverSide: Socket;
  received: () => string;
  closed: Promise<void>;
}

/** A raw connection to `port`, once the server accepted it. */
async function open(app: ReturnType<typeof buildServer>, port: number): Promise<Raw> {
  const accepted = new Promise<Socket>((r) => app.server.once('connection', r));
  const socket = connect(port, '127.0.0.1');
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  closers.push(async () => void socket.destroy());
  return { socket, serverSide: await accepted, received: () => received, closed };
}

/** The head of a request that asks for 100 Continue before sending `contentLength` bytes. */
const head = (method: string, path: string, contentLength: number, headers: string[] = []): string =>
  [
    `${method} ${path} HTTP/1.1`,
    'Host: x',
    'Expect: 100-continue',
    'Content-Type: application/json',
    `Content-Length: ${contentLength}`,
    ...headers,
    '',
    '',
  ].join('\r\n');

/** The JSON body of the last answer in `received`. */
const lastBody = (received: string): unknown =>
  JSON.parse(received.slice(received.lastIndexOf('\r\n\r\n') + 4));

const basic = (key: string): string => `Authorization: Basic ${Buffer.from(`${key}:`).toString('base64')}`;

describe('Expect: 100-continue', () => {
  it('a request that will be read gets 100 Continue, then its answer once its body is sent', async () => {
    const { store, app, port } = await listening();
    const key = store.project.writeKey;
    const event = { event: 'e', distinct_id: 'd', type: 'track', userId: 'd' };
    const cases = [
      // Key in a header, or in the body only: that one has to be read to be known.
      { path: '/ingest', headers: [`Authorization: Bearer ${key}`], body: [event], status: 202 },
      { path: '/ingest', headers: [], body: { api_key: key, batch: [event] }, status: 202 },
      { path: '/batch/', headers: [`Authorization: Bearer ${key}`], body: [event], status: 200 },
      { path: '/v1/batch', headers: [basic(key)], body: { batch: [event] }, status: 200 },
      {
        method: 'DELETE',
        path: '/api/persons/d',
        headers: [`Authorization: Bearer ${store.project.adminKey}`],
        body: {},
        status: 200,
      },
    ];
    for (const c of cases) {
      const raw = await open(app, port);
      const body = JSON.stringify(c.body);
      raw.socket.write(
        head(c.method ?? 'POST', c.path, Buffer.byteLength(body), [...c.headers, 'Connection: close']),
      );
      await vi.waitFor(() => expect(raw.received()).toBe('HTTP/1.1 100 Continue\r\n\r\n'));
      raw.socket.write(body);
      await raw.closed;
      expect({ path: c.path, answer: raw.received().split('\r\n\r\n')[1]?.split('\r\n')[0] }).toEqual({
        path: c.path,
        answer: `HTTP/1.1 ${c.status} ${c.status === 202 ? 'Accepted' : 'OK'}`,
      });
    }
  });

  it('a refusal its headers decide is the answer instead of 100, in its route shape, counted', async () => {
    const { store, app, port, metrics } = await listening({ maxBodyBytes: 1000 });
    const cases = [
      {
        head: head('POST', '/ingest', 5000, [`Authorization: Bearer ${store.project.writeKey}`]),
        status: 413,
        body: { error: 'too-large' },
      },
      {
        head: head('POST', '/ingest', 10, [
          `Authorization: Bearer ${store.project.writeKey}`,
          'Content-Encoding: lz64',
        ]),
        status: 415,
        body: { error: 'unsupported-encoding' },
      },
      {
        head: head('POST', '/ingest', 10, ['Authorization: Bearer hw_no-such-key']),
        status: 401,
        body: { error: 'unknown-key' },
      },
      {
        head: head('POST', '/batch/', 10, ['Authorization: Bearer hw_no-such-key']),
        status: 401,
        body: { type: 'authentication_error', code: 'invalid_api_key' },
      },
      {
        head: head('POST', '/v1/batch', 10, [basic('hw_no-such-key')]),
        status: 401,
        body: { success: false, error: 'unknown-key' },
      },
      {
        head: head('POST', '/ingest', 10, [`Authorization: Bearer ${store.project.adminKey}`]),
        status: 403,
        body: { error: 'wrong-key-role' },
      },
      { head: head('DELETE', '/api/persons/d', 2), status: 401, body: { error: 'missing-key' } },
    ];
    for (const c of cases) {
      const raw = await open(app, port);
      raw.socket.write(c.head);
      // The client never sends the body: the server answers, and closes the connection.
      await raw.closed;
      const firstLine = raw.received().split('\r\n')[0];
      expect({ request: c.head.split('\r\n')[0], firstLine }).toEqual({
        request: c.head.split('\r\n')[0],
        firstLine: expect.stringMatching(new RegExp(`^HTTP/1\\.1 ${c.status} `)),
      });
      expect(lastBody(raw.received())).toMatchObject(c.body);
    }
    const counted = await metrics();
    expect(counted).toContain('homing_http_requests_total{route="/ingest",method="POST",status="413"} 1');
    expect(counted).toContain('homing_http_requests_total{route="/ingest",method="POST",status="401"} 1');
    expect(counted).toContain('homing_http_requests_total{route="/v1/batch",method="POST",status="401"} 1');
  });

  it('a request with no body gets its 100 at once and keeps its connection for the next request', async () => {
    const { store, app, port } = await listening();
    const admin = `Authorization: Bearer ${store.project.adminKey}`;
    const requests = [
      // Content-Length: 0, and no Content-Length at all.
      `DELETE /api/persons/alice HTTP/1.1\r\nHost: x\r\n${admin}\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n`,
    ];
    for (const request of requests) {
      const raw = await open(app, port);
      raw.socket.write(request);
      await vi.waitFor(() => expect(raw.received()).toMatch(/\r\n\r\n\{.*\}$/));
      expect(raw.received()).not.toMatch(/\r\nconnection: close\r\n/i);
      expect(raw.received()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
      // Before, Node closed the connection here and this request went unanswered.
      const before = raw.received().length;
      raw.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await raw.closed;
      expect(raw.received().slice(before)).toMatch(/^HTTP\/1\.1 200 /);
    }
  });

  it('while the server shuts down: 503 with Retry-After instead of 100', async () => {
    const { store, app, port } = await listening({ retryAfterSeconds: 7, shutdownGraceMs: 60_000 });
    const raw = await open(app, port);
    const request = head('POST', '/ingest', 10, [`Authorization: Bearer ${store.project.writeKey}`]);
    // Part of the request first: a connection that sent nothing is closed at once by close().
    raw.socket.write(request.slice(0, 20));
    await vi.waitFor(() => expect(raw.serverSide.bytesRead).toBe(20));
    const closing = app.close();
    raw.socket.write(request.slice(20));
    await raw.closed;
    expect(raw.received()).toMatch(/^HTTP\/1\.1 503 /);
    expect(raw.received()).toMatch(/\r\nretry-after: 7\r\n/i);
    expect(lastBody(raw.received())).toMatchObject({ error: 'shutting-down' });
    await closing;
  });
});
