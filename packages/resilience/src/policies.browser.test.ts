/**
 * The core policies in a real browser (Chromium): loaded from this package's sources as they
 * are (every module of the package, so a Node-only import anywhere would fail to load), then a
 * composition with a real fetch, its signal, a timeout, a breaker and a retry.
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

const SRC = fileURLToPath(new URL('.', import.meta.url));

let server: Server;
let base = '';
let browser: Browser;
let page: Page;
let flaky = 0;

beforeAll(async () => {
  if (!available) return;
  const code = new Map(
    readdirSync(SRC)
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => [
        `/mod/${f.replace(/\.ts$/, '.js')}`,
        ts.transpileModule(readFileSync(`${SRC}/${f}`, 'utf8'), {
          compilerOptions: {
            module: ts.ModuleKind.ESNext,
            target: ts.ScriptTarget.ES2022,
            verbatimModuleSyntax: true,
          },
        }).outputText,
      ]),
  );
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (code.has(url)) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(code.get(url));
    if (url === '/')
      return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
    if (url === '/flaky') {
      // Fails twice, then answers.
      if (flaky++ < 2) return res.writeHead(503).end();
      return res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
    }
    if (url === '/hang') return; // never answers
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
  await page.addScriptTag({
    type: 'module',
    content: `import * as lib from '/mod/index.js'; globalThis.lib = lib;`,
  });
  await page.waitForFunction(() => (globalThis as any).lib !== undefined, undefined, { timeout: 20_000 });
}, 60_000);

afterAll(async () => {
  if (!available) return;
  await browser?.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe.skipIf(!available)('core policies in Chromium', () => {
  it('retry + breaker + timeout around fetch: retries 503s, times out a hung request through its signal', async () => {
    flaky = 0;
    const result = await page.evaluate(async () => {
      const { wrap, retry, circuitBreaker, ConsecutiveBreaker, timeout, constantBackoff } = (
        globalThis as any
      ).lib;
      const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(5) });
      const policy = wrap(retry({ maxAttempts: 4, backoff: constantBackoff(10) }), breaker, timeout(300));
      const body = await policy.execute(async ({ signal }: { signal: AbortSignal }) => {
        const response = await fetch('/flaky', { signal });
        if (!response.ok) throw new Error(`status ${response.status}`);
        return response.text();
      });
      const once = wrap(breaker, timeout(100, { strategy: 'cooperative' }));
      const hung = await once
        .execute(({ signal }: { signal: AbortSignal }) => fetch('/hang', { signal }))
        .catch((error: any) => ({ kind: error.kind, cause: error.cause?.name }));
      return { body, stats: breaker.stats(), hung };
    });
    expect(result.body).toBe('fine');
    expect(result.stats).toMatchObject({ calls: 4, successes: 1, failures: 3 });
    // fetch rejects with the signal's reason: the timeout's own error.
    expect(result.hung).toEqual({ kind: 'timeout', cause: 'TaskTimeoutError' });
  });

  it('a snapshot in localStorage keeps a breaker open across page loads', async () => {
    await page.evaluate(async () => {
      const { circuitBreaker, ConsecutiveBreaker } = (globalThis as any).lib;
      const breaker = circuitBreaker({ breaker: new ConsecutiveBreaker(1), halfOpenAfterMs: 60_000 });
      await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
      localStorage.setItem('breaker', JSON.stringify(breaker.snapshot()));
    });
    await page.reload();
    await page.addScriptTag({
      type: 'module',
      content: `import * as lib from '/mod/index.js'; globalThis.lib = lib;`,
    });
    await page.waitForFunction(() => (globalThis as any).lib !== undefined);
    const after = await page.evaluate(async () => {
      const { circuitBreaker, ConsecutiveBreaker } = (globalThis as any).lib;
      const initialState = JSON.parse(localStorage.getItem('breaker')!);
      const breaker = circuitBreaker({
        breaker: new ConsecutiveBreaker(1),
        halfOpenAfterMs: 60_000,
        initialState,
      });
      const error = await breaker.execute(() => 'called').catch((e: any) => e.kind);
      localStorage.removeItem('breaker');
      return { state: breaker.state, error };
    });
    expect(after).toEqual({ state: 'open', error: 'circuit-open' });
  });
});
