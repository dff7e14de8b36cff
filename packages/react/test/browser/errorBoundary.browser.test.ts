/**
 * TelemetryErrorBoundary in a real browser: React 19 (production build) rendering into a real
 * DOM in Chromium, errors thrown while rendering, the fallback shown, the capture made with the
 * component stack, reset by a click and by resetKeys. Reuses the client's Chromium harness.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePage } from './bundlePage.js';
import { chromiumAvailable, launchChromium, startPageServer } from '../../../client/test/browser/harness.js';

interface Capture {
  error: { name: string; message: string } | string;
  context: { severity?: string; tags?: Record<string, unknown>; context?: Record<string, any> } | undefined;
}

const available = chromiumAvailable();

describe.skipIf(!available)('TelemetryErrorBoundary in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let server: { url: string; close(): Promise<void> };
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startPageServer(await bundlePage(new URL('./entry.ts', import.meta.url), 'production'));
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => 'homingReact' in globalThis);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const mount = (name: string, shouldThrow = true): Promise<void> =>
    page.evaluate(([n, t]) => (globalThis as any).homingReact.mount(n, t), [name, shouldThrow] as const);
  const captures = (): Promise<Capture[]> => page.evaluate(() => (globalThis as any).homingReact.captures());

  it('captures a render error with the component stack, tags and context, and shows the fallback with its id', async () => {
    await mount('provider');
    await page.waitForSelector('#fallback');
    expect(await page.textContent('#message')).toBe('failed: render boom in cart (err-1)');
    const [capture, ...more] = await captures();
    expect(more).toEqual([]);
    expect(capture!.error).toEqual({ name: 'Error', message: 'render boom in cart' });
    expect(capture!.context?.severity).toBe('error');
    expect(capture!.context?.tags).toEqual({ area: 'checkout' });
    expect(capture!.context?.context?.['screen']).toBe('cart');
    const stack = capture!.context?.context?.['react']?.componentStack as string;
    expect(stack).toMatch(/Thrower/);
    expect(stack.indexOf('Thrower')).toBeLessThan(stack.indexOf('TelemetryErrorBoundary'));
    const calls = await page.evaluate(() => (globalThis as any).homingReact.onErrorCalls());
    expect(calls).toEqual([{ componentStack: stack, errorId: 'err-1' }]);
    // Nothing escaped to the page as an uncaught error.
    expect(pageErrors).toEqual([]);
  });

  it('reset() from the fallback renders the children again', async () => {
    await mount('provider');
    await page.waitForSelector('#fallback');
    await page.evaluate(() => (globalThis as any).homingReact.setExplode(false));
    await page.click('#reset');
    await page.waitForSelector('#content');
    expect(await page.textContent('#content')).toBe('content cart');
    expect(await page.$('#fallback')).toBeNull();
  });

  it('a change of resetKeys tries the children again; a second failure is captured again', async () => {
    await mount('keyed');
    await page.waitForSelector('#fallback');
    expect(await page.textContent('#fallback')).toBe('static fallback');
    await page.click('#next-key'); // still throwing: fallback again, second capture
    await page.waitForFunction(() => (globalThis as any).homingReact.captures().length === 2);
    await page.evaluate(() => (globalThis as any).homingReact.setExplode(false));
    await page.click('#next-key');
    await page.waitForSelector('#content');
    expect(await page.textContent('#content')).toBe('content key 2');
    expect((await captures()).map((c) => (c.error as { message: string }).message)).toEqual([
      'render boom in key 0',
      'render boom in key 1',
    ]);
  });

  it('resetKeys that is not an array is one key: the fallback shows and a change resets (it threw in componentDidUpdate and blanked the root)', async () => {
    pageErrors.length = 0;
    await mount('keyedScalar');
    await page.waitForSelector('#fallback');
    await page.evaluate(() => (globalThis as any).homingReact.setExplode(false));
    await page.click('#next-key');
    await page.waitForSelector('#content');
    expect(await page.textContent('#content')).toBe('content key 1');
    expect((await captures()).map((c) => (c.error as { message: string }).message)).toEqual([
      'render boom in key 0',
    ]);
    expect(pageErrors).toEqual([]);
  });

  it('children that throw in the update that changes resetKeys are captured once, not reset at once', async () => {
    await mount('keyed', false);
    await page.waitForSelector('#content');
    await page.evaluate(() => (globalThis as any).homingReact.setExplode(true));
    await page.click('#next-key'); // key 1: the children throw in the same update
    await page.waitForSelector('#fallback');
    // Two frames later every render and commit of that update is done.
    await page.evaluate(
      () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
    );
    expect((await captures()).map((c) => (c.error as { message: string }).message)).toEqual([
      'render boom in key 1',
    ]);
    // The next change of the keys still tries the children again.
    await page.evaluate(() => (globalThis as any).homingReact.setExplode(false));
    await page.click('#next-key');
    await page.waitForSelector('#content');
    expect(await page.textContent('#content')).toBe('content key 2');
    expect(pageErrors).toEqual([]);
  });

  it('the telemetry prop wins over the provider; severity is passed', async () => {
    await mount('ownTelemetry');
    await page.waitForSelector('#fallback');
    const [capture] = await captures();
    expect(capture!.context?.severity).toBe('fatal');
    expect(await page.textContent('#message')).toBe('failed: render boom in own (err-1)');
  });

  it('a captureError that throws, or no telemetry at all, still shows the fallback', async () => {
    await mount('throwingTelemetry');
    await page.waitForSelector('#fallback');
    expect(await page.textContent('#message')).toBe('failed: render boom in x (no id)');
    await mount('noTelemetry');
    await page.waitForSelector('#fallback');
    expect(await page.textContent('#message')).toBe('failed: render boom in alone (no id)');
    expect(pageErrors).toEqual([]);
  });

  it('renders the children and captures nothing when nothing throws', async () => {
    await mount('provider', false);
    await page.waitForSelector('#content');
    expect(await captures()).toEqual([]);
  });
});
