import { rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from './app.js';
import type { ServerOptions } from './serverOptions.js';
import { openSqlite, tempDir } from './store/sqlite.test-helpers.js';
import { StoreError } from './store/errors.js';
import { NoopStore } from './store/noop.js';
import type { Store } from './store/store.js';

describe('buildServer: router and CORS settings', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(): Promise<{ url: string; store: Store }> {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const app = buildServer({ logger: false, store, corsOrigins: ['https://admin.example'] });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    cleanups.push(async () => {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { url: `http://127.0.0.1:${port}`, store };
  }

  it('serves a person whose distinct_id is far longer than 100 URL-encoded characters', async () => {
    const { url, store } = await start();
    const project = await store.createProject('p');
    // 1000 characters is the store's limit; URL-encoded, non-ASCII ones take up to 9 each.
    const id = `${'é'.repeat(500)}/${'x'.repeat(499)}`;
    const now = new Date().toISOString();
    await store.insertEvents(project.id, [
      {
        uuid: '0193a5c0-0000-7000-8000-0000000000a1',
        event: 'e',
        distinctId: id,
        timestamp: now,
        originalTimestamp: null,
        receivedAt: now,
        properties: {},
      },
    ]);
    const path = `/api/persons/${encodeURIComponent(id)}/events`;
    expect(path.length).toBeGreaterThan(3000);
    const res = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${project.adminKey}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { events: { distinct_id: string }[] };
    expect(body.events.map((e) => e.distinct_id)).toEqual([id]);
    // Beyond the limit the answer is still a 400 naming it, not a bare 404.
    const tooLong = await fetch(`${url}/api/persons/${'z'.repeat(9001)}/events`, {
      headers: { authorization: `Bearer ${project.adminKey}` },
    });
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { message: string }).message).toContain('9000');
  });

  it('preflights allow the admin headers and answers expose content-disposition and retry-after', async () => {
    const { url } = await start();
    const pre = await fetch(`${url}/api/persons/alice`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://admin.example',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'x-homing-admin-key, x-homing-actor, content-encoding',
      },
    });
    expect(pre.status).toBe(204);
    const allowed = (pre.headers.get('access-control-allow-headers') ?? '').split(/\s*,\s*/);
    expect(allowed).toEqual(
      expect.arrayContaining([
        'authorization',
        'content-type',
        'content-encoding',
        'x-homing-admin-key',
        'x-homing-actor',
      ]),
    );
    const get = await fetch(`${url}/healthz`, { headers: { origin: 'https://admin.example' } });
    const exposed = (get.headers.get('access-control-expose-headers') ?? '').split(/\s*,\s*/);
    expect(exposed).toEqual(expect.arrayContaining(['content-disposition', 'retry-after']));
  });

  it("answers an OPTIONS that is no preflight with a JSON 400 in its route family's shape", async () => {
    const app = buildServer({ logger: false, store: new NoopStore() });
    cleanups.push(() => app.close());
    const options = (url: string, headers: Record<string, string> = {}) =>
      app.inject({ method: 'OPTIONS', url, headers });
    for (const url of ['/ingest', '/v1/batch', '/api/events', '/nowhere']) {
      const res = await options(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type'], url).toMatch(/^application\/json/);
      expect(res.json(), url).toMatchObject({ error: 'invalid-request' });
    }
    expect((await options('/v1/batch')).json()).toMatchObject({ success: false });
    expect((await options('/api/events')).headers['cache-control']).toBe('no-store');
    for (const url of ['/e/', '/batch', '/flags/?v=2', '/array/k/config']) {
      const res = await options(url, { origin: 'https://a.example' });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({
        type: 'validation_error',
        detail: expect.stringContaining('preflight'),
      });
    }
    // A preflight is answered as before.
    const pre = await options('/e/', {
      origin: 'https://a.example',
      'access-control-request-method': 'POST',
    });
    expect(pre.statusCode).toBe(204);
  });

  it('answers unknown routes and undecodable paths as { error, message }, no-store on /api/, never echoing the path', async () => {
    const { url, store } = await start();
    const project = await store.createProject('p');
    const auth = { authorization: `Bearer ${project.adminKey}` };
    const cases: [string, string, number, string][] = [
      ['PUT', '/api/events', 404, 'not-found'],
      ['GET', '/api/nothing-here', 404, 'not-found'],
      ['GET', '/api/persons/%ZZsecret-id/events', 400, 'invalid-request'],
      ['DELETE', '/api/persons/secret%E0%A4id', 400, 'invalid-request'],
    ];
    for (const [method, path, status, error] of cases) {
      const res = await fetch(`${url}${path}`, { method, headers: auth });
      const body = (await res.json()) as Record<string, unknown>;
      expect({ path, status: res.status }).toEqual({ path, status });
      expect(body).toEqual({ error, message: expect.any(String) });
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(JSON.stringify(body)).not.toMatch(/secret|ZZ|nothing-here/);
    }
    // Outside the admin API: the same shape, and caching is the client's business.
    const nope = await fetch(`${url}/nope`);
    expect(nope.status).toBe(404);
    expect(await nope.json()).toEqual({ error: 'not-found', message: expect.any(String) });
    expect(nope.headers.get('cache-control')).toBeNull();
    // A wrong path says so whatever the body: an SDK's gzip body, one that is not JSON.
    for (const [body, headers] of [
      [gzipSync('{"batch":[]}'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }],
      ['not json', { 'content-type': 'application/json' }],
    ] as const) {
      const wrongPath = await fetch(`${url}/ingest/ingest`, { method: 'POST', body, headers });
      expect(wrongPath.status).toBe(404);
      expect(await wrongPath.json()).toEqual({ error: 'not-found', message: expect.any(String) });
    }
    // Ingest routes keep their own answers.
    const ingest = await fetch(`${url}/ingest`, { method: 'POST', body: '[]' });
    expect(ingest.status).toBe(401);
    expect(await ingest.json()).toMatchObject({ error: 'missing-key' });
    const capture = await fetch(`${url}/batch/`, { method: 'POST', body: '{}' });
    expect(capture.status).toBe(401);
    expect(await capture.json()).toMatchObject({ type: 'authentication_error', code: 'missing_api_key' });
  });

  it('refuses a query string that does not decode with 400 (it was read as the raw text: 200, no events)', async () => {
    const { url, store } = await start();
    const project = await store.createProject('p');
    const auth = { authorization: `Bearer ${project.adminKey}` };
    // A person whose id is the text the bad query would have been read as.
    const stored = await fetch(`${url}/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${project.writeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ event: 'e', distinct_id: '%FF', timestamp: new Date().toISOString() }]),
    });
    expect(stored.status).toBe(202);
    for (const query of [
      'distinct_id=%FF',
      'distinct_id=secret%E0%A4',
      'event=%',
      'event=secret%ZZ&limit=5',
      '%FF=1',
    ]) {
      const res = await fetch(`${url}/api/events?${query}`, { headers: auth });
      const body = (await res.json()) as Record<string, unknown>;
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(body).toEqual({ error: 'invalid-request', message: expect.stringMatching(/percent-encoding/) });
      expect(JSON.stringify(body)).not.toMatch(/secret|ZZ/);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    // Well-formed queries still decode: + is a space, %25 a literal %, UTF-8 any script.
    const literal = await fetch(`${url}/api/events?distinct_id=%25FF`, { headers: auth });
    expect(literal.status).toBe(200);
    expect(((await literal.json()) as { events: unknown[] }).events).toHaveLength(1);
    const spaced = await fetch(`${url}/api/events?event=a+b&distinct_id=%E4%BA%BA`, { headers: auth });
    expect(spaced.status).toBe(200);
    // Ingest routes read their query too (PostHog's ?compression=).
    const ingest = await fetch(`${url}/batch/?compression=%FF`, { method: 'POST', body: '{}' });
    expect(ingest.status).toBe(400);
    expect(await ingest.json()).toMatchObject({ type: 'validation_error', code: 'invalid_payload' });
  });
});

/**
 * Generous bound for what, without the limit a test sets, takes a minute or more or never happens:
 * 'never' when `p` has not settled by then.
 */
const within = <T>(p: Promise<T>, ms = 15_000): Promise<T | 'never'> =>
  Promise.race([p, new Promise<'never'>((r) => setTimeout(() => r('never'), ms).unref())]);

describe('buildServer: stalled uploads', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(options: Partial<ServerOptions>) {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const project = await store.createProject('p');
    const app = buildServer({ logger: false, store, ...options });
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => (arrived = r));
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.url === '/ingest') arrived();
      done();
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as { port: number }).port;
    cleanups.push(async () => {
      await within(app.close());
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    /** Sends the headers of a 100-byte body and 5 bytes of it, then nothing. */
    const stall = (): { socket: Socket; received: () => string; closed: Promise<void> } => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('error', () => {});
      const closed = new Promise<void>((r) => socket.on('close', () => r()));
      socket.write(
        'POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' +
          `Authorization: Bearer ${project.writeKey}\r\nContent-Length: 100\r\n\r\n[{"ev`,
      );
      cleanups.push(async () => void socket.destroy());
      return { socket, received: () => received, closed };
    };
    const stored = async () => (await store.queryEvents({ projectId: project.id, limit: 10 })).length;
    return { app, port, requestArrived, stall, stored, url: `http://127.0.0.1:${port}`, project };
  }

  it('close() ends after shutdownGraceMs with a stalled upload open, closing it and storing nothing', async () => {
    const s = await start({ requestTimeoutMs: 0, shutdownGraceMs: 200 });
    const upload = s.stall();
    await s.requestArrived;
    expect(await within(s.app.close().then(() => 'closed'))).toBe('closed');
    expect(await within(upload.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(await s.stored()).toBe(0);
  });

  it('answers 408 and closes a request whose body does not arrive within requestTimeoutMs', async () => {
    const s = await start({ requestTimeoutMs: 300 });
    const upload = s.stall();
    await s.requestArrived;
    expect(await within(upload.closed.then(() => 'socket closed'))).toBe('socket closed');
    expect(upload.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await s.stored()).toBe(0);
    // The server goes on serving.
    const ok = await fetch(`${s.url}/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.project.writeKey}`, 'content-type': 'application/json' },
      body: JSON.stringify([{ event: 'after', distinct_id: 'd' }]),
    });
    expect(ok.status).toBe(202);
    expect(await s.stored()).toBe(1);
  });
});

describe('buildServer: request logs', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('name the route pattern, never the URL: no distinct id or query value reaches the logs', async () => {
    for (const kind of ['options', 'pino instance'] as const) {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          done();
        },
      });
      const dir = tempDir();
      const store = await openSqlite({ dataDir: dir });
      const project = await store.createProject('p');
      const logger = kind === 'options' ? { level: 'info', stream } : pino({ level: 'info' }, stream);
      const app = buildServer({ store, logger });
      await app.listen({ host: '127.0.0.1', port: 0 });
      cleanups.push(async () => {
        await app.close();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const admin = { authorization: `Bearer ${project.adminKey}` };
      const SECRET = 'person-7f3a';
      for (const [method, path] of [
        ['DELETE', `/api/persons/a%2F${SECRET}`],
        ['GET', `/api/persons/${SECRET}/export`],
        ['GET', `/api/persons/${SECRET}/events?since=-1d`],
        ['GET', `/api/events?distinct_id=${SECRET}&event=${SECRET}`],
        ['GET', `/no/such/${SECRET}?q=${SECRET}`],
      ] as const) {
        const res = await fetch(`${url}${path}`, { method, headers: admin });
        await res.arrayBuffer();
      }
      const completed = lines
        .map((l) => JSON.parse(l) as { msg: string; req?: unknown; res?: { statusCode: number } })
        .filter((l) => l.msg === 'request completed');
      expect(completed.map((l) => l.req)).toEqual([
        { method: 'DELETE', route: '/api/persons/:distinct_id' },
        { method: 'GET', route: '/api/persons/:distinct_id/export' },
        { method: 'GET', route: '/api/persons/:distinct_id/events' },
        { method: 'GET', route: '/api/events' },
        { method: 'GET', route: 'unmatched' },
      ]);
      expect(completed.at(-1)?.res).toEqual({ statusCode: 404 });
      expect([kind, lines.join('\n')]).not.toEqual([kind, expect.stringContaining(SECRET)]);
    }
  });
});

describe('buildServer: the admin API', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function start(options: Partial<ServerOptions>, wrap: (s: Store) => Store = (s) => s) {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const project = await store.createProject('p');
    const app = buildServer({ logger: false, ...options, store: wrap(store) });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(async () => {
      await app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, project, store };
  }

  it("answers a storage failure 503 with the server's retryAfterSeconds, as ingest does", async () => {
    const unreachable = (s: Store): Store =>
      Object.assign(Object.create(s) as Store, {
        findProjectByKey: async () => {
          throw new StoreError('unreachable', 'db down (injected)');
        },
      });
    const { url } = await start({ retryAfterSeconds: 30 }, unreachable);
    const ingest = await fetch(`${url}/ingest`, {
      method: 'POST',
      headers: { authorization: 'Bearer hw_x', 'content-type': 'application/json' },
      body: '[]',
    });
    const admin = await fetch(`${url}/api/events`, { headers: { authorization: 'Bearer ha_x' } });
    expect([ingest.status, ingest.headers.get('retry-after')]).toEqual([503, '30']);
    expect([admin.status, admin.headers.get('retry-after')]).toEqual([503, '30']);
  });

  it('refuses a compressed body with 415 naming the encoding, and does nothing', async () => {
    const { url, project, store } = await start({});
    const now = new Date().toISOString();
    await store.insertEvents(project.id, [
      {
        uuid: '0193a5c0-0000-7000-8000-0000000000b1',
        event: 'e',
        distinctId: 'alice',
        timestamp: now,
        originalTimestamp: null,
        receivedAt: now,
        properties: {},
      },
    ]);
    const res = await fetch(`${url}/api/persons/alice`, {
      method: 'DELETE',
      headers: {
        authorization: `Bearer ${project.adminKey}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: gzipSync('{}'),
    });
    expect(res.status).toBe(415);
    const body = (await res.json()) as { error: string; message: string };
    expect(body).toEqual({ error: 'unsupported-media-type', message: expect.stringContaining('"gzip"') });
    expect(await store.queryEvents({ projectId: project.id, limit: 10 })).toHaveLength(1);
    // Identity is a body as it is.
    const plain = await fetch(`${url}/api/persons/alice`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${project.adminKey}`, 'content-encoding': 'identity' },
    });
    expect(await plain.json()).toEqual({ deleted: 1, distinct_id: 'alice' });
  });
});

describe('buildServer: idle connections', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  async function start(options: Partial<ServerOptions>) {
    const app = buildServer({ logger: false, store: new NoopStore(), ...options });
    await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const port = (app.server.address() as { port: number }).port;
    /** A socket that sent one GET /healthz, kept alive, and what it received. */
    const idle = (): { received: () => string; closed: Promise<void>; answered: Promise<void> } => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      let answer!: () => void;
      const answered = new Promise<void>((r) => (answer = r));
      socket.on('data', (d: Buffer) => {
        received += d.toString();
        if (received.includes('\r\n\r\n')) answer();
      });
      socket.on('error', () => {});
      const closed = new Promise<void>((r) => socket.on('close', () => r()));
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      cleanups.push(async () => void socket.destroy());
      return { received: () => received, closed, answered };
    };
    return { app, idle };
  }

  it('closes a kept-alive connection idle for keepAliveTimeoutMs, announcing it in Keep-Alive', async () => {
    const { app, idle } = await start({ keepAliveTimeoutMs: 200 });
    expect(app.server.keepAliveTimeout).toBe(200);
    const conn = idle();
    expect(await within(conn.closed.then(() => 'closed'))).toBe('closed');
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 /);
    const defaults = await start({});
    expect(defaults.app.server.keepAliveTimeout).toBe(10_000);
    const kept = defaults.idle();
    await kept.answered;
    expect(kept.received()).toMatch(/\r\nkeep-alive: timeout=10\r\n/i);
  });

  it('closes a connection over maxConnections as it is accepted, and serves the others', async () => {
    const { app, idle } = await start({ maxConnections: 2 });
    expect(app.server.maxConnections).toBe(2);
    const first = idle();
    const second = idle();
    await Promise.all([first.answered, second.answered]);
    const third = idle();
    expect(await within(third.closed.then(() => 'closed'))).toBe('closed');
    expect(third.received()).toBe('');
    expect((await start({})).app.server.maxConnections).toBeUndefined();
  });
});
