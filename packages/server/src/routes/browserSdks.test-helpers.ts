/**
 * What the browser SDK test needs around Chromium: a site on loopback that serves the real
 * posthog-js and Segment analytics.js from their packages' dist files (no CDN), a proxy that
 * takes every request for a host other than 127.0.0.1 (so none reaches the network, and each one
 * attempted is named), and a record of what a page showed of its requests to Homing.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Page } from 'playwright-core';
import type { WireEvent } from './query.js';

const require = createRequire(import.meta.url);
/** posthog-js as an app bundles it from npm (`import posthog from 'posthog-js'`). */
const POSTHOG_MODULE = require.resolve('posthog-js/dist/module.js');
/** analytics.js as Segment's CDN serves it: the UMD build and the chunks it loads beside it. */
const SEGMENT_UMD_DIR = join(dirname(require.resolve('@segment/analytics-next/package.json')), 'dist/umd');

const HTML = { 'content-type': 'text/html; charset=utf-8' };
const JS = { 'content-type': 'text/javascript; charset=utf-8' };

/**
 * The page of each SDK; `window.sdkReady` once it is loaded. analytics.js takes the base of its
 * chunks from `window.analytics._cdn` when it loads, so they come from this site too.
 */
const PAGES: Record<string, string> = {
  posthog:
    '<script type="module">import posthog from "/sdk/posthog-js/module.js";' +
    'window.posthog = posthog; window.sdkReady = true;</script>',
  segment:
    '<script>window.analytics = { _cdn: location.origin + "/sdk/segment" };</script>' +
    '<script src="/sdk/segment/index.js"></script><script>window.sdkReady = true;</script>',
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

export interface SdkSite {
  /** The site's origin; `/posthog` and `/segment` (any path under them) load that SDK. */
  readonly url: string;
  close(): Promise<void>;
}

/** Serves the SDK pages, the SDKs' dist files and `/elsewhere`, a page with no SDK. */
export async function startSdkSite(): Promise<SdkSite> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const sdk = path.split('/')[1]!;
    const chunk = /^\/sdk\/segment\/(?:analytics-next\/bundles\/)?([\w.-]+\.js)$/.exec(path)?.[1];
    let answer: Promise<[Record<string, string>, string | Buffer]>;
    if (path === '/sdk/posthog-js/module.js') answer = readFile(POSTHOG_MODULE).then((b) => [JS, b]);
    else if (chunk !== undefined) answer = readFile(join(SEGMENT_UMD_DIR, chunk)).then((b) => [JS, b]);
    else {
      const head = PAGES[sdk] ?? '';
      answer = Promise.resolve([HTML, `<!doctype html><title>${sdk}</title>${head}<p>${sdk}</p>`]);
    }
    answer.then(
      ([headers, body]) => res.writeHead(200, headers).end(body),
      () => res.writeHead(404).end(),
    );
  });
  const url = await listen(server);
  return { url, close: () => stop(server) };
}

export interface NetworkGuard {
  /** The proxy to give a browser context, which sends only 127.0.0.1 past it. */
  readonly proxy: { server: string; bypass: string };
  /** Every request for another host that reached the proxy (its URL, or `host:port` for TLS). */
  readonly attempts: string[];
  close(): Promise<void>;
}

/** A proxy that refuses everything and names what was asked of it. */
export async function startNetworkGuard(): Promise<NetworkGuard> {
  const attempts: string[] = [];
  const server = createServer((req, res) => {
    attempts.push(req.url ?? '');
    res.writeHead(403).end();
  });
  server.on('connect', (req: { url?: string }, socket: { destroy(): void }) => {
    attempts.push(req.url ?? '');
    socket.destroy();
  });
  const url = await listen(server);
  return { proxy: { server: url, bypass: '127.0.0.1' }, attempts, close: () => stop(server) };
}

/** What one page showed of its requests to Homing, and its console errors. */
export interface PageRecord {
  /** `METHOD path content-type` of each request to Homing seen to go (not a beacon as it is left). */
  readonly sent: string[];
  /** `METHOD path status` of every answer from Homing. */
  readonly answers: string[];
  /** Requests to Homing that got no answer (CORS refused, aborted), with Chromium's reason. */
  readonly failed: string[];
  /** Console errors (their text and where they came from) and uncaught exceptions. */
  readonly errors: string[];
}

/** Starts recording `page`'s traffic with Homing at `homingUrl` and its errors. */
export function recordPage(page: Page, homingUrl: string): PageRecord {
  const record: PageRecord = { sent: [], answers: [], failed: [], errors: [] };
  const toHoming = (url: string): string | null =>
    url.startsWith(`${homingUrl}/`) ? url.slice(homingUrl.length) : null;
  page.on('request', (req) => {
    const path = toHoming(req.url());
    if (path !== null) record.sent.push(`${req.method()} ${path} ${req.headers()['content-type'] ?? '-'}`);
  });
  page.on('response', (res) => {
    const path = toHoming(res.url());
    if (path !== null) record.answers.push(`${res.request().method()} ${path} ${res.status()}`);
  });
  page.on('requestfailed', (req) => {
    const path = toHoming(req.url());
    if (path !== null) record.failed.push(`${req.method()} ${path} ${req.failure()?.errorText ?? ''}`);
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error') record.errors.push(`${msg.text()} (at ${msg.location().url})`);
  });
  page.on('pageerror', (err) => record.errors.push(`uncaught: ${err.message}`));
  return record;
}

/** An event as the admin API answers it. */
export type ApiEvent = WireEvent;

/** Every event of the project whose admin key is `adminKey`, through `GET /api/events`. */
export async function storedEvents(homingUrl: string, adminKey: string): Promise<ApiEvent[]> {
  const out: ApiEvent[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
    const res = await fetch(`${homingUrl}/api/events?limit=1000${query}`, {
      headers: { authorization: `Bearer ${adminKey}` },
    });
    if (res.status !== 200) throw new Error(`GET /api/events answered ${res.status}: ${await res.text()}`);
    const page = (await res.json()) as { events: ApiEvent[]; next: string | null };
    out.push(...page.events);
    cursor = page.next;
  } while (cursor !== null);
  return out;
}
