import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildServer } from './app.js';
import { NoopStore } from './store/noop.js';
import type { IngestEvent } from './store/store.js';

/** A store whose writes take `delayMs`, as a slow database's do. */
class SlowStore extends NoopStore {
  delayMs = 400;
  override async insertEvents(projectId: string, events: IngestEvent[]) {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return super.insertEvents(projectId, events);
  }
}

describe('a request whose client goes away before its answer', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  it('is counted as 499 with its time, and logged, once; an answered one is not', async () => {
    const store = new SlowStore();
    const lines: Record<string, unknown>[] = [];
    const app = buildServer({
      store,
      logger: { level: 'info', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
    });
    closers.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
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
});
