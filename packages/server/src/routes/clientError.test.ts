import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from '../app.js';
import { NoopStore } from '../store/noop.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** Sends `bytes` on a new connection; what came back once the server closed it. */
function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(got));
    setTimeout(() => s.destroy(), 2000).unref();
  });
}

/** A server on a no-op store, listening on loopback. */
async function listening() {
  const store = new NoopStore();
  const app = buildServer({ store, logger: false });
  closers.push(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { store, app, port: (app.server.address() as AddressInfo).port };
}

describe('requests Node answered itself, with an empty body and uncounted', () => {
  it('an Expect other than 100-continue: 417 saying so, counted as client-error', async () => {
    const { store, app, port } = await listening();
    const got = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nAuthorization: Bearer ${store.project.writeKey}\r\nContent-Length: 2\r\n\r\n[]`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 417 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: 'expectation-failed' });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      'homing_http_requests_total{route="client-error",method="unknown",status="417"} 1',
    );
  });

  it('CONNECT: 405 saying why, with Allow, counted as client-error', async () => {
    const { app, port } = await listening();
    const got = await exchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 405 /);
    expect(got).toMatch(/\r\nAllow: GET, HEAD, POST, DELETE, OPTIONS\r\n/);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toEqual({
      error: 'method-not-allowed',
      message: expect.stringContaining('CONNECT'),
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      'homing_http_requests_total{route="client-error",method="CONNECT",status="405"} 1',
    );
  });

  it('CONNECT pipelined behind requests still being answered: their answers first, then the 405', async () => {
    const { store, app, port } = await listening();
    // The ingests' store writes are held until the server has taken the CONNECT: their 202s are
    // still to be made when the 405 is due, the first one's with the connection, the second's
    // waiting for its turn.
    let release = (): void => {};
    const held = new Promise<void>((r) => (release = r));
    app.server.on('connect', () => release());
    let stored = 0;
    const insertEvents = store.insertEvents.bind(store);
    store.insertEvents = async (...args) => {
      await held;
      const result = await insertEvents(...args);
      stored += result.accepted;
      return result;
    };
    const ingest = (distinctId: string): string => {
      const body = JSON.stringify([{ event: 'e', distinct_id: distinctId }]);
      return (
        `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${store.project.writeKey}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`
      );
    };
    const got = await exchange(
      port,
      ingest('a') + ingest('b') + 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    // Before, the 405 was written at once and the connection closed: the 202s never went out.
    expect(got.match(/HTTP\/1\.1 \d+/g)).toEqual(['HTTP/1.1 202', 'HTTP/1.1 202', 'HTTP/1.1 405']);
    expect(JSON.parse(got.slice(got.lastIndexOf('\r\n\r\n') + 4))).toMatchObject({
      error: 'method-not-allowed',
    });
    // The events the 202s stand for are stored, either way.
    await vi.waitFor(() => expect(stored).toBe(2));
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      'homing_http_requests_total{route="client-error",method="CONNECT",status="405"} 1',
    );
  });

  it('an HTTP/1.1 request without Host: 400 saying so, counted on its route; HTTP/1.0 needs none', async () => {
    const { store, app, port } = await listening();
    const got = await exchange(
      port,
      `POST /ingest HTTP/1.1\r\nAuthorization: Bearer ${store.project.writeKey}\r\nContent-Length: 2\r\n\r\n[]`,
    );
    expect(got).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toEqual({
      error: 'invalid-request',
      message: expect.stringContaining('Host'),
    });
    expect(await exchange(port, 'GET /healthz HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="400"} 1');
  });
});
