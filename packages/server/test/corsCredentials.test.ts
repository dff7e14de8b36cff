import { rmSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchChromium } from '../../client/test/browser/harness.js';
import { buildServer } from '../src/app.js';
import { openSqlite, tempDir } from '../src/store/sqlite.test-helpers.js';
import type { Store } from '../src/store/store.js';
import { type Running, startServerOn } from './harness.js';

/**
 * posthog-js's XHR transport sends with credentials (withCredentials); a browser refuses
 * `Access-Control-Allow-Origin: *` for those. Ingest routes reflect an allowed origin with
 * `Access-Control-Allow-Credentials: true`; the admin API does not allow credentials.
 */

const SITE = 'https://site.example';
const OTHER = 'https://other.example';

/** Capture, flag and Segment paths a page may call with credentials. */
const CREDENTIALED = ['/e/', '/batch', '/i/v0/e/', '/flags/?v=2', '/ingest', '/v1/batch', '/v1/t'];

async function preflight(url: string, origin: string): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  });
}

function varies(res: Response): string[] {
  return (res.headers.get('vary') ?? '').toLowerCase().split(/\s*,\s*/);
}

describe('CORS with credentials on ingest routes, HTTP level', () => {
  const running: Running[] = [];
  afterAll(async () => {
    for (const s of running) await s.close();
  });
  async function start(corsOrigins: '*' | string[]): Promise<Running> {
    const s = await startServerOn('sqlite', { corsOrigins, rateLimit: false });
    running.push(s);
    return s;
  }

  for (const corsOrigins of ['*', [SITE]] as const) {
    it(`corsOrigins ${JSON.stringify(corsOrigins)}: preflight and answer reflect the page's origin and allow credentials`, async () => {
      const s = await start(corsOrigins === '*' ? '*' : [...corsOrigins]);
      for (const path of CREDENTIALED) {
        const pre = await preflight(`${s.url}${path}`, SITE);
        expect([path, pre.status]).toEqual([path, 204]);
        expect([path, pre.headers.get('access-control-allow-origin')]).toEqual([path, SITE]);
        expect([path, pre.headers.get('access-control-allow-credentials')]).toEqual([path, 'true']);
        expect(varies(pre)).toContain('origin');
        const res = await fetch(`${s.url}${path}`, {
          method: 'POST',
          headers: { origin: SITE, 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: s.project.writeKey, batch: [] }),
        });
        await res.arrayBuffer();
        expect([path, res.headers.get('access-control-allow-origin')]).toEqual([path, SITE]);
        expect([path, res.headers.get('access-control-allow-credentials')]).toEqual([path, 'true']);
        expect(varies(res)).toContain('origin');
      }
      // The admin API, metrics and health: no credentials, as before.
      for (const path of ['/api/events', '/metrics', '/healthz']) {
        const pre = await preflight(`${s.url}${path}`, SITE);
        expect([path, pre.headers.get('access-control-allow-credentials')]).toEqual([path, null]);
        expect([path, pre.headers.get('access-control-allow-origin')]).toEqual([
          path,
          corsOrigins === '*' ? '*' : SITE,
        ]);
        const res = await fetch(`${s.url}${path}`, { headers: { origin: SITE } });
        await res.arrayBuffer();
        expect([path, res.headers.get('access-control-allow-credentials')]).toEqual([path, null]);
      }
    });
  }

  it("with '*', Origin: null (a sandboxed iframe, a file:// page) gets the plain answer, never credentials", async () => {
    const s = await start('*');
    const pre = await preflight(`${s.url}/e/`, 'null');
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    const res = await fetch(`${s.url}/e/`, {
      method: 'POST',
      headers: { origin: 'null', 'content-type': 'text/plain' },
      body: JSON.stringify({ api_key: s.project.writeKey, event: 'e', distinct_id: 'd' }),
    });
    await res.arrayBuffer();
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('an origin not in the list gets no Allow-Origin on a preflight, and its 403 says Vary: Origin', async () => {
    const s = await start([SITE]);
    const pre = await preflight(`${s.url}/e/`, OTHER);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const refused = await fetch(`${s.url}/e/`, {
      method: 'POST',
      headers: { origin: OTHER, 'content-type': 'text/plain' },
      body: JSON.stringify({ api_key: s.project.writeKey, event: 'e', distinct_id: 'd' }),
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    expect(varies(refused)).toContain('origin');
  });
});

describe('the 503 of a draining server carries CORS headers', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  for (const corsOrigins of ['*', [SITE]] as const) {
    it(`corsOrigins ${JSON.stringify(corsOrigins)}: a page can read its Retry-After`, async () => {
      const dir = tempDir();
      const store: Store = await openSqlite({ dataDir: dir });
      const app: FastifyInstance = buildServer({
        logger: false,
        store,
        corsOrigins: corsOrigins === '*' ? '*' : [...corsOrigins],
        shutdownGraceMs: 60_000,
      });
      let draining!: () => void;
      const drainingBegan = new Promise<void>((r) => (draining = r));
      // After buildServer's own preClose hook, which is what starts refusing.
      app.addHook('preClose', async () => draining());
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as AddressInfo).port;
      // Headers begun but not ended: an open request, so close() neither drops the connection as
      // idle nor ends before the request arrives whole.
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('error', () => {});
      const closedSocket = new Promise<void>((r) => socket.on('close', () => r()));
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write(`POST /e/ HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
      const closing = app.close();
      cleanups.push(async () => {
        socket.destroy();
        await closing;
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      await drainingBegan;
      socket.write(`Origin: ${SITE}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n[]`);
      await closedSocket;
      const head = received.split('\r\n\r\n')[0]!.toLowerCase();
      expect(head).toMatch(/^http\/1\.1 503 /);
      expect(head).toContain('retry-after: 5');
      expect(head).toContain(`access-control-allow-origin: ${SITE}`);
      expect(head).toMatch(/access-control-expose-headers: [^\r\n]*retry-after/);
    });
  }
});

/** A page server on its own port: its origin is `url`. */
async function pageServer(): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>page</title>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe.skipIf(!chromiumAvailable())('CORS with credentials in Chromium: posthog-js XHR transport', () => {
  let page: { url: string; server: Server };
  let browser: Browser;
  beforeAll(async () => {
    page = await pageServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    page?.server.close();
  });

  for (const list of [false, true]) {
    it(`an XHR withCredentials from another origin stores its event (corsOrigins ${list ? 'listing the page' : "'*'"})`, async () => {
      const s = await startServerOn('sqlite', { corsOrigins: list ? [page.url] : '*', rateLimit: false });
      try {
        const tab = await browser.newPage();
        await tab.goto(page.url);
        const status = await tab.evaluate(
          ({ api, key }) =>
            new Promise<number>((resolve) => {
              const xhr = new XMLHttpRequest();
              xhr.open('POST', `${api}/e/?ver=1.0`);
              xhr.withCredentials = true;
              xhr.setRequestHeader('content-type', 'application/json');
              xhr.onload = () => resolve(xhr.status);
              // A CORS refusal: the page sees status 0.
              xhr.onerror = () => resolve(xhr.status);
              xhr.send(
                JSON.stringify([{ event: 'xhr-credentials', distinct_id: 'd', properties: { token: key } }]),
              );
            }),
          { api: s.url, key: s.project.writeKey },
        );
        await tab.close();
        expect(status).toBe(200);
        expect((await s.events()).map((e) => e.event)).toEqual(['xhr-credentials']);
      } finally {
        await s.close();
      }
    });
  }
});
