import { request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from './app.js';
import { StoreCallDropped, StoreError } from './store/errors.js';
import { NoopStore } from './store/noop.js';
import type { IngestEvent, InsertOptions } from './store/store.js';

/** A store whose writes take `delayMs`, as a slow database's do. */
class SlowStore extends NoopStore {
  delayMs = 400;
  override async insertEvents(projectId: string, events: IngestEvent[]) {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.insertEvents(projectId, events);
  }
}

/** A store that holds each write until its caller gives up, then drops it as SQLite's group commit does. */
/** Answers a call only once its client left: dropping it (as SQLite's group commit does), or failing for real. */
class DroppingStore extends NoopStore {
  constructor(private readonly how: 'drops' | 'fails' = 'drops') {
    super();
  }

  override insertEvents(_projectId: string, _events: IngestEvent[], options?: InsertOptions) {
    return new Promise<never>((_resolve, reject) => {
      options?.signal?.addEventListener('abort', () =>
        reject(
          this.how === 'drops'
            ? new StoreCallDropped()
            : new StoreError('unreachable', 'connection terminated unexpectedly'),
        ),
      );
    });
  }
}

describe('a request whose client goes away before its answer', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  /** A server on `store`, listening on loopback, its log lines kept. */
  async function listening(store: NoopStore) {
    const lines: Record<string, unknown>[] = [];
    const app = buildServer({
      store,
      logger: { level: 'info', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
    });
    closers.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    return { app, port: (app.server.address() as AddressInfo).port, lines };
  }

  /** Posts one event and goes away 100 ms later, before any answer. */
  function postAndLeave(port: number, writeKey: string): void {
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${writeKey}` };
    const gone = request({ host: '127.0.0.1', port, method: 'POST', path: '/ingest', headers });
    gone.on('error', () => {});
    gone.end(JSON.stringify([{ event: 'e', distinct_id: 'd' }]));
    setTimeout(() => gone.destroy(), 100);
  }

  it('is counted as 499 with its time, and logged, once; an answered one is not', async () => {
    const store = new SlowStore();
    const { app, port, lines } = await listening(store);
    const body = JSON.stringify([{ event: 'e', distinct_id: 'd' }]);
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${store.project.writeKey}` };
    // Gives up after 100 ms, while the store still writes.
    const gone = request({ host: '127.0.0.1', port, method: 'POST', path: '/ingest', headers });
    gone.on('error', () => {});
    gone.end(body);
    setTimeout(() => gone.destroy(), 100);
    // Waits for its answer.
    store.delayMs = 400;
    const answered = await app.inject({ method: 'POST', url: '/ingest', headers, payload: body });
    expect(answered.statusCode).toBe(202);
    await vi.waitFor(() =>
      expect(lines.some((l) => String(l['msg']).startsWith('request aborted'))).toBe(true),
    );
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="499"} 1');
    expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="202"} 1');
    expect(metrics).toContain('homing_ingest_duration_seconds_count{format="native"} 2');
    const aborted = lines.filter((l) => String(l['msg']).startsWith('request aborted'));
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ req: { method: 'POST', route: '/ingest' } });
    // The time until the client left, not until the store answered.
    expect(aborted[0]!['responseTime']).toBeGreaterThan(0);
    expect(aborted[0]!['responseTime']).toBeLessThan(store.delayMs);
  });

  it('a body its client cuts short is one line, `request aborted` with bodyReceived false, not two', async () => {
    const store = new NoopStore();
    const { app, port, lines } = await listening(store);
    const received = new Promise((resolve) => app.server.once('request', resolve));
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${store.project.writeKey}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"event":',
    );
    // Reset once the server has the request and part of its body.
    await received;
    socket.resetAndDestroy();
    await vi.waitFor(async () => {
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="499"} 1');
    });
    // The error handler's turn comes after the close that counted it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const about = lines.filter((l) => l['reqId'] !== undefined && l['msg'] !== 'request completed');
    expect(about).toEqual([
      expect.objectContaining({
        msg: 'request aborted: the client closed the connection',
        req: { method: 'POST', route: '/ingest' },
        bodyReceived: false,
      }),
    ]);
  });

  it('a body the server stops waiting for (408) is counted once, as client-error, not as 499', async () => {
    const store = new NoopStore();
    const app = buildServer({ store, logger: false, requestTimeoutMs: 300 });
    closers.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const stalled = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/ingest',
      headers: {
        'content-type': 'application/json',
        'content-length': '100',
        authorization: `Bearer ${store.project.writeKey}`,
      },
    });
    const status = new Promise<number | string>((resolve) => {
      stalled.on('response', (res) => resolve(res.statusCode ?? 0));
      stalled.on('error', (e) => resolve(String(e)));
    });
    stalled.write('[');
    await status;
    await vi.waitFor(async () => {
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain(
        'homing_http_requests_total{route="client-error",method="unknown",status="408"} 1',
      );
    });
    // The socket's close follows the 408: give its listeners their turn.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('status="499"');
  });

  it('a body cut short by a reset or a bad chunk size: 499 or client-error, never 500, no error line', async () => {
    const store = new NoopStore();
    const { app, port, lines } = await listening(store);
    const head = (framing: string): string =>
      `POST /ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${store.project.writeKey}\r\n${framing}\r\n\r\n`;
    const send = (bytes: string, reset: boolean): Promise<void> =>
      new Promise((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(bytes, () => (reset ? s.resetAndDestroy() : undefined));
        });
        s.on('error', () => {});
        s.on('close', () => resolve());
        s.resume();
      });
    for (let i = 0; i < 5; i++) {
      // The socket is gone by the time the body parser runs: the request has no address.
      await send(`${head('Content-Length: 100')}[{`, true);
      // Node answers 400 and closes the connection.
      await send(`${head('Transfer-Encoding: chunked')}zz\r\n[]\r\n0\r\n\r\n`, false);
    }
    await vi.waitFor(async () => {
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="499"} 5');
      expect(metrics).toContain(
        'homing_http_requests_total{route="client-error",method="unknown",status="400"} 5',
      );
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toContain('status="500"');
    expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="499"} 5');
    expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
  });

  it('a write the store dropped because its client left is no store failure', async () => {
    const store = new DroppingStore();
    const { app, port, lines } = await listening(store);
    postAndLeave(port, store.project.writeKey);
    await vi.waitFor(async () => {
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toContain('homing_http_requests_total{route="/ingest",method="POST",status="499"} 1');
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).not.toMatch(/^homing_store_failures_total/m);
    expect(metrics).not.toMatch(/^homing_store_write_duration_seconds_count\{outcome="failed"\}/m);
    expect(lines.filter((l) => (l['level'] as number) >= 50)).toEqual([]);
    expect(lines.filter((l) => String(l['msg']).startsWith('request aborted'))).toHaveLength(1);
  });

  it('a store that fails for real after the client left is still a store failure (a hung database)', async () => {
    const store = new DroppingStore('fails');
    const { app, port } = await listening(store);
    postAndLeave(port, store.project.writeKey);
    await vi.waitFor(async () => {
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      expect(metrics).toMatch(/^homing_store_failures_total\{kind="unreachable"\} 1/m);
    });
  });
});
