/**
 * The error tracker in a real browser (Chromium): Chrome's own stacks parsed, `error` and
 * `unhandledrejection` recorded without being prevented (the page still reports them),
 * navigation, fetch and console breadcrumbs, and everything restored by close().
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.HOMING_REQUIRE_SERVICES === '1') {
  throw new Error(`HOMING_REQUIRE_SERVICES=1 but ${CHROMIUM} is missing`);
}

const srcRoot = fileURLToPath(new URL('../../', import.meta.url));

/** `/src/<path>.js` → the client's `<path>.ts`, transpiled as it is. */
function serve(url: string): string | null {
  const m = /^\/src\/([\w/.-]+)\.js$/.exec(url);
  if (m === null || m[1]!.includes('..')) return null;
  const file = `${srcRoot}${m[1]}.ts`;
  if (!existsSync(file)) return null;
  return ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
    },
  }).outputText;
}

const APP = `
import { createErrorTracker } from '/src/features/errors/index.js';
window.events = [];
window.originals = { push: history.pushState, fetch: window.fetch, log: console.log };
window.tracker = createErrorTracker(
  {
    track: (event, properties) => window.events.push({ event, properties }),
    persist: async () => {},
    logger: { debug() {}, warn() {}, error() {} },
    now: Date.now,
  },
  { captureUnhandled: true, consoleBreadcrumbs: true, fetchBreadcrumbs: true, navigationBreadcrumbs: true, dedupWindowMs: 0 },
);
history.pushState({}, '', '/cart?item=1');
await fetch('/api/missing?token=secret');
console.log('about to fail');
setTimeout(function checkout() {
  throw new TypeError('cart 42 is empty');
}, 0);
void Promise.reject(new RangeError('price out of range'));
`;

let server: Server;
let base = '';
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!available) return;
  server = createServer((req, res) => {
    const url = req.url ?? '/';
    const code = serve(url);
    if (code !== null) return res.writeHead(200, { 'content-type': 'text/javascript' }).end(code);
    if (url === '/')
      return res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
    if (url === '/app.html')
      return res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<!doctype html><title>app</title><script type="module" src="/app.js"></script>');
    if (url === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(APP);
    res.writeHead(404).end('missing');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({
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
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${base}/`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.close();
});

describe.skipIf(!available)('error tracking in Chromium', () => {
  it('records uncaught errors and rejections with parsed Chrome frames, breadcrumbs, and restores on close', async () => {
    // Loaded as a real module file, so the frames carry its URL (code run by page.evaluate is eval'd).
    await page.goto(`${base}/app.html`);
    await expect
      .poll(() => page.evaluate(() => ((window as any).events ?? []).length), { timeout: 15_000 })
      .toBe(2);
    const events = (await page.evaluate(() => (window as any).events)) as {
      event: string;
      properties: Record<string, any>;
    }[];
    const byType = Object.fromEntries(events.map((e) => [e.properties['$exception_type'], e.properties]));
    expect(byType['TypeError']).toMatchObject({
      $exception_message: 'cart 42 is empty',
      $exception_mechanism: 'error',
      $exception_handled: false,
    });
    expect(byType['RangeError']).toMatchObject({ $exception_mechanism: 'unhandledrejection' });
    const top = byType['TypeError']['$exception_list'][0].stacktrace.frames[0];
    expect(top).toMatchObject({ function: 'checkout', inApp: true });
    expect(top.file).toBe(`${base}/app.js`);
    expect(top.line).toBeGreaterThan(0);
    expect(byType['TypeError']['$exception_breadcrumbs'].map((b: any) => [b.category, b.message])).toEqual([
      ['navigation', `${base}/app.html -> ${base}/cart`],
      ['fetch', 'GET /api/missing 404'], // relative, as the app wrote it, minus the query
      ['console', 'about to fail'],
    ]);
    // Not prevented: the page itself still reported both.
    await expect.poll(() => pageErrors.length).toBeGreaterThanOrEqual(1);
    expect(pageErrors.join('\n')).toContain('cart 42 is empty');

    const restored = await page.evaluate(async () => {
      const w = window as unknown as Record<string, any>;
      await w.tracker.close();
      return (
        history.pushState === w.originals.push &&
        window.fetch === w.originals.fetch &&
        console.log === w.originals.log
      );
    });
    expect(restored).toBe(true);
  });
});
