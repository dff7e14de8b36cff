import { request, type IncomingHttpHeaders } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../app.js';
import { NoopStore } from '../store/noop.js';

describe('corsOrigins list: requests from other origins', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function start() {
    const store = new NoopStore();
    const app = buildServer({ logger: false, store, corsOrigins: ['https://app.example.com'] });
    cleanups.push(() => app.close());
    await app.ready();
    const send = (headers: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/ingest',
        headers: {
          'content-type': 'text/plain',
          authorization: `Bearer ${store.project.writeKey}`,
          ...headers,
        },
        payload: JSON.stringify([{ event: 'e', distinct_id: 'd' }]),
      });
    return { send };
  }

  it('are refused when the page names itself in Host too (DNS rebinding)', async () => {
    const { send } = await start();
    const rebound = await send({ host: 'attacker.example:8090', origin: 'http://attacker.example:8090' });
    expect(rebound.statusCode).toBe(403);
    expect(rebound.json()).toMatchObject({ error: 'origin-not-allowed' });
  });

  it('are taken from an allowed origin, or with no Origin at all (servers, SDKs)', async () => {
    const { send } = await start();
    expect((await send({ origin: 'https://app.example.com' })).statusCode).toBe(202);
    expect((await send({})).statusCode).toBe(202);
    expect((await send({ origin: 'https://evil.example' })).statusCode).toBe(403);
  });

  it('are refused on the admin API with no-store, as every admin answer (the URL names a person)', async () => {
    const store = new NoopStore();
    const app = buildServer({ logger: false, store, corsOrigins: ['https://app.example.com'] });
    cleanups.push(() => app.close());
    for (const [method, url] of [
      ['GET', '/api/events'],
      ['GET', '/api/persons/someone/export'],
      ['DELETE', '/api/persons/someone'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { origin: 'https://evil.example', authorization: `Bearer ${store.project.adminKey}` },
      });
      expect(res.statusCode, url).toBe(403);
      expect(res.json()).toMatchObject({ error: 'origin-not-allowed' });
      expect(res.headers['cache-control'], url).toBe('no-store');
    }
    // Not on ingest: nothing there names anyone.
    const ingest = await app.inject({
      method: 'POST',
      url: '/ingest',
      headers: { origin: 'https://evil.example' },
    });
    expect(ingest.statusCode).toBe(403);
    expect(ingest.headers['cache-control']).toBeUndefined();
  });

  it('get the allowed origin on the 400 of a path the router cannot decode, so the page can read why', async () => {
    for (const [corsOrigins, origin, allowed] of [
      [['https://app.example.com'], 'https://app.example.com', 'https://app.example.com'],
      [['https://app.example.com'], 'https://evil.example', undefined],
      ['*', 'https://any.example', '*'],
    ] as const) {
      const store = new NoopStore();
      const app = buildServer({ logger: false, store, corsOrigins });
      cleanups.push(() => app.close());
      const res = await app.inject({
        method: 'GET',
        url: '/api/persons/100%ZZ/events',
        headers: { origin, authorization: `Bearer ${store.project.adminKey}` },
      });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({ error: 'invalid-request' });
      expect(res.headers['access-control-allow-origin'], origin).toBe(allowed);
    }
  });

  it('a preflight for such a path is answered 204 with the CORS headers, and such requests are counted and logged', async () => {
    const store = new NoopStore();
    const lines: string[] = [];
    const app = buildServer({
      logger: { level: 'info', stream: { write: (l: string) => void lines.push(l) } },
      store,
      corsOrigins: ['https://app.example.com'],
    });
    cleanups.push(() => app.close());
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/persons/100%ZZ/events',
      headers: {
        origin: 'https://app.example.com',
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(String(preflight.headers['access-control-allow-methods'])).toContain('GET');
    expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization');
    // Not for an origin the list does not allow.
    const refused = await app.inject({
      method: 'OPTIONS',
      url: '/api/persons/100%ZZ/events',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    await app.inject({ method: 'GET', url: `/array/${'x'.repeat(9100)}/config` });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain(
      'homing_http_requests_total{route="unmatched",method="OPTIONS",status="204"} 1',
    );
    expect(metrics).toContain(
      'homing_http_requests_total{route="unmatched",method="OPTIONS",status="400"} 1',
    );
    expect(metrics).toContain('homing_http_requests_total{route="unmatched",method="GET",status="400"} 1');
    const completed = lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'request completed' && l.req.route === 'unmatched');
    expect(completed.map((l) => [l.req.route, l.res.statusCode, l.kind])).toEqual([
      ['unmatched', 204, 'FST_ERR_BAD_URL'],
      ['unmatched', 400, 'FST_ERR_BAD_URL'],
      ['unmatched', 400, 'FST_ERR_MAX_PARAM_LENGTH'],
    ]);
    // Nothing of the path (an id) in the log.
    expect(lines.join('')).not.toContain('100%ZZ');
  });

  it('an OPTIONS that is no preflight gets its JSON 400 with the CORS headers of its origin, so a page can read why', async () => {
    const store = new NoopStore();
    const app = buildServer({ logger: false, store, corsOrigins: ['https://app.example.com'] });
    cleanups.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const options = (path: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: IncomingHttpHeaders; json: unknown }>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'OPTIONS', path, headers, agent: false },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (d: string) => (text += d));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text && JSON.parse(text) }),
            );
          },
        );
        req.on('error', reject);
        req.end();
      });
    const allowed = { origin: 'https://app.example.com' };
    // A credentialed route (ingest) reflects the origin with credentials, as its other answers do.
    const ingest = await options('/ingest', allowed);
    expect(ingest.status).toBe(400);
    expect(ingest.json).toMatchObject({
      error: 'invalid-request',
      message: expect.stringContaining('preflight'),
    });
    expect(ingest.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(ingest.headers['access-control-allow-credentials']).toBe('true');
    expect(ingest.headers['vary']).toMatch(/Origin/);
    const capture = await options('/e/', allowed);
    expect(capture.json).toMatchObject({
      type: 'validation_error',
      detail: expect.stringContaining('preflight'),
    });
    expect(capture.headers['access-control-allow-origin']).toBe('https://app.example.com');
    const admin = await options('/api/events', allowed);
    expect(admin.status).toBe(400);
    expect(admin.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(admin.headers['access-control-allow-credentials']).toBeUndefined();
    expect(admin.headers['cache-control']).toBe('no-store');
    // Not to an origin the list does not name; and a preflight is answered as before.
    const other = await options('/ingest', { origin: 'https://evil.example' });
    expect(other.status).toBe(400);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await options('/ingest', { ...allowed, 'access-control-request-method': 'POST' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.example.com');
  });

  it("take the server's own origin from the address the connection reached, not from Host", async () => {
    const store = new NoopStore();
    const app = buildServer({ logger: false, store, corsOrigins: ['https://app.example.com'] });
    cleanups.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    const post = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, method: 'POST', path: '/ingest', agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.setHeader('content-type', 'text/plain');
        req.setHeader('authorization', `Bearer ${store.project.writeKey}`);
        for (const [k, v] of Object.entries(headers)) req.setHeader(k, v);
        req.end(JSON.stringify([{ event: 'e', distinct_id: 'd' }]));
      });
    expect(await post({ host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` })).toBe(
      403,
    );
    expect(await post({ origin: `http://127.0.0.1:${port}` })).toBe(202);
  });
});
