/**
 * The classification, the health monitor and fault injection in a real browser (Chromium):
 * no Node-only API, and the browser's own fetch failures (a TypeError without a code, an
 * AbortError DOMException) classified as this package says.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.HOMING_REQUIRE_SERVICES === '1') {
  throw new Error(`HOMING_REQUIRE_SERVICES=1 but ${CHROMIUM} is missing`);
}

// The modules the browser may load: every module of the package's sources, transpiled as it
// is (a list of the ones imported went stale when a module gained an import).
const MODULES = readdirSync(fileURLToPath(new URL('.', import.meta.url)))
  .filter((f) => f.endsWith('.ts') && !f.includes('.test'))
  .map((f) => f.replace(/\.ts$/, ''));

function transpile(name: string): string {
  const source = readFileSync(fileURLToPath(new URL(`./${name}.ts`, import.meta.url)), 'utf8');
  return ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  }).outputText;
}

let health: 'up' | 'down' | 'hang' = 'up';
let server: Server;
let base = '';
let closedPort = 0;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!available) return;
  const code = new Map(MODULES.map((name) => [`/mod/${name}.js`, transpile(name)]));
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (code.has(url)) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(code.get(url));
    if (url === '/')
      return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
    if (url === '/health') {
      if (health === 'hang') return;
      return res.writeHead(health === 'up' ? 200 : 503, { 'retry-after': '3' }).end();
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  closedPort = (closed.address() as AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  page = await browser.newPage();
  await page.goto(`${base}/`);
  // Loaded by the page itself: vitest rewrites import() inside functions handed to evaluate().
  await page.addScriptTag({
    type: 'module',
    content: `
      import * as classify from '/mod/classifyHttpFailure.js';
      import * as retryAfter from '/mod/retryAfter.js';
      import * as health from '/mod/HealthMonitor.js';
      import * as faults from '/mod/FaultInjectionPolicy.js';
      globalThis.lib = { ...classify, ...retryAfter, ...health, ...faults };
    `,
  });
  await page.waitForFunction(() => (globalThis as any).lib !== undefined);
}, 60_000);

afterAll(async () => {
  if (!available) return;
  await browser?.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe.skipIf(!available)('in Chromium', () => {
  it("classifies the browser's own fetch failures and responses", async () => {
    health = 'down';
    const results = await page.evaluate(async (port) => {
      const { classifyHttpFailure, httpErrorFromResponse } = (globalThis as any).lib;
      const refused = await fetch(`http://127.0.0.1:${port}/`).catch((error: unknown) => error);
      const controller = new AbortController();
      const aborted = fetch('/health', { signal: controller.signal }).catch((error: unknown) => error);
      controller.abort();
      const response = await fetch('/health');
      const error = httpErrorFromResponse(response);
      return {
        refusedName: (refused as Error).name,
        refused: classifyHttpFailure({ error: refused }),
        aborted: classifyHttpFailure({ error: await aborted }),
        response: classifyHttpFailure(response),
        error: { kind: error.kind, status: error.status, retryAfterMs: error.retryAfterMs },
      };
    }, closedPort);
    // A browser gives no code: the bare TypeError is how its fetch says "network failure".
    expect(results.refusedName).toBe('TypeError');
    expect(results.refused.kind).toBe('retryable');
    expect(results.aborted).toEqual({ kind: 'retryable', reason: 'AbortError' });
    expect(results.response).toEqual({
      kind: 'retryable',
      retryAfterMs: 3000,
      reason: '503 Service Unavailable',
    });
    expect(results.error).toEqual({ kind: 'http', status: 503, retryAfterMs: 3000 });
  });

  it('runs a health monitor with a relative HTTP check, up, down and hanging', async () => {
    const statuses = async (): Promise<string[]> => page.evaluate(() => (globalThis as any).seen.splice(0));
    health = 'up';
    await page.evaluate(async () => {
      const { HealthMonitor } = (globalThis as any).lib;
      const monitor = new HealthMonitor({ failureThreshold: 1, timeoutMs: 300 });
      (globalThis as any).monitor = monitor;
      (globalThis as any).seen = [];
      monitor.register('api', { url: '/health' });
      monitor.onStatusChange((change: { scope: string; current: string }) => {
        if (change.scope === 'aggregate') (globalThis as any).seen.push(change.current);
      });
    });
    const run = (): Promise<{ status: string; lastError?: string }> =>
      page.evaluate(async () => {
        const report = await (globalThis as any).monitor.runNow();
        return { status: report.status, lastError: report.checks.api.lastError };
      });
    expect(await run()).toEqual({ status: 'healthy' });
    health = 'down';
    expect(await run()).toEqual({ status: 'unhealthy', lastError: 'unexpected status 503 (expected 2xx)' });
    health = 'hang';
    expect(await run()).toEqual({ status: 'unhealthy', lastError: 'Operation timed out after 300 ms' });
    health = 'up';
    expect(await run()).toEqual({ status: 'healthy' });
    expect(await statuses()).toEqual(['healthy', 'unhealthy', 'healthy']);
    await page.evaluate(() => (globalThis as any).monitor.close());
  });

  it('injects faults without a process object, and parses Retry-After', async () => {
    const results = await page.evaluate(async () => {
      const { faultInjection, parseRetryAfter } = (globalThis as any).lib;
      const policy = faultInjection({ errors: { rate: 1 }, latency: { rate: 1, ms: 5 } });
      const error = await policy.execute(() => 'ran').catch((e: { kind: string }) => e.kind);
      const controller = new AbortController();
      const dropped = faultInjection({ drops: { rate: 1 } }).execute(() => 'ran', controller.signal);
      controller.abort(new Error('gave up'));
      return {
        hasProcess: typeof (globalThis as any).process,
        error,
        stats: policy.stats,
        dropped: await dropped.catch((e: Error) => e.message),
        retryAfter: parseRetryAfter('Thu, 01 Jan 1970 00:00:10 GMT', 4000),
      };
    });
    expect(results).toEqual({
      hasProcess: 'undefined',
      error: 'fault-injected',
      stats: { calls: 1, delayed: 1, delayMs: 5, errors: 1, drops: 0, passedThrough: 0 },
      dropped: 'gave up',
      retryAfter: 6000,
    });
  });
});
