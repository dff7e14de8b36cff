/**
 * The Chromium harness of the client's browser tests: bundles `entry.ts` with rolldown, serves
 * it on 127.0.0.1 with node:http, runs an ingest sink on another port (so the page's sends are
 * cross-origin and go through CORS, as on a real site), and launches `/usr/bin/chromium` with
 * playwright-core. With HOMING_REQUIRE_SERVICES=1 a missing Chromium fails the run.
 */
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { rolldown } from 'rolldown';
import { WORKER_SCRIPTS } from './workerScripts.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Whether the browser tests can run; throws when they must and cannot. */
export function chromiumAvailable(): boolean {
  const available = existsSync(CHROMIUM);
  if (!available && process.env.HOMING_REQUIRE_SERVICES === '1') {
    throw new Error(`HOMING_REQUIRE_SERVICES=1 but ${CHROMIUM} is missing`);
  }
  return available;
}

export async function bundleEntry(): Promise<string> {
  const bundle = await rolldown({
    input: fileURLToPath(new URL('./entry.ts', import.meta.url)),
    platform: 'browser',
    resolve: {
      conditionNames: ['homing-source', 'browser', 'import', 'default'],
      extensionAlias: { '.js': ['.ts', '.js'] },
    },
    logLevel: 'silent',
  });
  try {
    const { output } = await bundle.generate({ format: 'esm' });
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Serves the test page, its bundle and the workers' scripts (`workerScripts.ts`). */
export async function startPageServer(bundle: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const workerScript = WORKER_SCRIPTS[req.url?.split('?')[0] ?? ''];
    if (req.url === '/bundle.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
    } else if (workerScript !== undefined) {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(workerScript);
    } else if (req.url === '/' || req.url?.startsWith('/?')) {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>homing</title><script type="module" src="/bundle.js"></script>');
    } else {
      res.writeHead(404).end();
    }
  });
  const url = await listen(server);
  return { url, close: () => close(server) };
}

export interface SinkRequest {
  readonly contentType: string | undefined;
  readonly bodyBytes: number;
  readonly uuids: string[];
  readonly apiKey: unknown;
}

/**
 * A Homing ingest endpoint: `POST /ingest`, CORS open to any origin, gzip bodies read, every
 * request and uuid recorded. `hold` keeps answers back until released (to catch a page mid-send).
 */
export class IngestSink {
  readonly requests: SinkRequest[] = [];
  preflights = 0;
  url = '';
  /** When set, answers wait for this promise. */
  hold: Promise<void> | undefined;
  /**
   * How many requests (counted since `requests` was emptied) are answered at once even while
   * `hold` is set: a client sends one batch at a time until an endpoint has answered one.
   */
  answerFirst = 0;
  /** When set, a request carrying this uuid is answered 500 (a server bug one event triggers). */
  failOn: string | undefined;
  private readonly server = createServer((req, res) => void this.handle(req, res));

  async start(): Promise<this> {
    this.url = await listen(this.server);
    return this;
  }

  close(): Promise<void> {
    return close(this.server);
  }

  /** Every uuid received, in order, duplicates kept. */
  uuids(): string[] {
    return this.requests.flatMap((r) => r.uuids);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cors = {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization, content-type, content-encoding',
      'access-control-max-age': '600',
    };
    if (req.method === 'OPTIONS') {
      this.preflights++;
      res.writeHead(204, cors).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    const bodyBytes = raw.length;
    if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw);
    let body: { batch?: { uuid?: string }[]; api_key?: unknown } = {};
    try {
      body = JSON.parse(raw.toString('utf8')) as typeof body;
    } catch {
      res.writeHead(400, cors).end('{"error":"bad json"}');
      return;
    }
    const uuids = (body.batch ?? []).map((e) => String(e.uuid));
    this.requests.push({ contentType: req.headers['content-type'], bodyBytes, uuids, apiKey: body.api_key });
    if (this.requests.length > this.answerFirst) await this.hold;
    if (this.failOn !== undefined && uuids.includes(this.failOn)) {
      res.writeHead(500, { ...cors, 'content-type': 'application/json' }).end('{"error":"boom"}');
      return;
    }
    res
      .writeHead(202, { ...cors, 'content-type': 'application/json' })
      .end(JSON.stringify({ accepted: uuids.length }));
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** What a Chromium test file starts once: the page server with the bundle, a sink, Chromium. */
export interface ChromiumSuite {
  readonly server: { url: string; close(): Promise<void> };
  readonly sink: IngestSink;
  readonly browser: Browser;
}

export async function startChromiumSuite(): Promise<ChromiumSuite> {
  const server = await startPageServer(await bundleEntry());
  const sink = await new IngestSink().start();
  const browser = await launchChromium();
  return { server, sink, browser };
}

export async function stopChromiumSuite(suite: Partial<ChromiumSuite>): Promise<void> {
  await suite.browser?.close();
  await suite.server?.close();
  await suite.sink?.close();
}

/** A test file's Chromium, its own browser context per test, and pages with the bundle loaded. */
export interface ChromiumTestSuite extends ChromiumSuite {
  /** The current test's context: its own IndexedDB, localStorage and locks. */
  readonly context: BrowserContext;
  /**
   * `page` (a new one of the current context when absent) at `path` of the page server, once the
   * bundle's `homing` is there.
   */
  openPage(path?: string, page?: Page): Promise<Page>;
}

/**
 * Registers a test file's Chromium lifecycle with vitest: the page server, sink and browser once
 * for the file, a fresh context (and an emptied sink) for each test. Nothing starts when Chromium
 * is missing; the file's `describe.skipIf(!chromiumAvailable())` skips its tests then.
 */
export function useChromiumSuite(): ChromiumTestSuite {
  const available = chromiumAvailable();
  let suite: ChromiumSuite | undefined;
  let context: BrowserContext | undefined;
  const started = (): ChromiumSuite => {
    if (suite === undefined) throw new Error('the Chromium suite is not started (no Chromium?)');
    return suite;
  };
  beforeAll(async () => {
    if (available) suite = await startChromiumSuite();
  }, 60_000);
  afterAll(async () => {
    if (suite !== undefined) await stopChromiumSuite(suite);
  });
  beforeEach(async () => {
    if (suite === undefined) return;
    suite.sink.requests.length = 0;
    context = await suite.browser.newContext();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  return {
    get server() {
      return started().server;
    },
    get sink() {
      return started().sink;
    },
    get browser() {
      return started().browser;
    },
    get context() {
      if (context === undefined) throw new Error('no browser context outside a test');
      return context;
    },
    async openPage(path = '/', page?: Page) {
      page ??= await this.context.newPage();
      await page.goto(`${started().server.url}${path}`);
      await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
      return page;
    },
  };
}
