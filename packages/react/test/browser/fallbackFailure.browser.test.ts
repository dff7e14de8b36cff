/**
 * TelemetryErrorBoundary when its fallback fails, and when the telemetry answers no id: React
 * (development build under StrictMode, and production) in Chromium, because error boundaries
 * only work in a client render (`react-dom/server` never calls componentDidCatch). The page is
 * `fallbackPage.ts`; the Chromium harness is the client's.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePage } from './bundlePage.js';
import { chromiumAvailable, launchChromium, startPageServer } from '../../../client/test/browser/harness.js';
import type { BoundaryPage, PageCapture } from './fallbackPage.js';

const available = chromiumAvailable();

const modes = [
  { mode: 'development', strict: true },
  { mode: 'production', strict: false },
] as const;

describe.skipIf(!available).each(modes)(
  'TelemetryErrorBoundary in Chromium, React $mode build',
  ({ mode, strict }) => {
    let browser: Browser;
    let page: Page;
    let server: { url: string; close(): Promise<void> };
    const pageErrors: string[] = [];

    beforeAll(async () => {
      server = await startPageServer(await bundlePage(new URL('./fallbackPage.ts', import.meta.url), mode));
      browser = await launchChromium();
      page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(server.url);
      await page.waitForFunction(() => 'boundaryPage' in globalThis);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
    });

    const call = <K extends keyof BoundaryPage>(name: K, ...args: Parameters<BoundaryPage[K]>) =>
      page.evaluate(([n, a]) => (globalThis as any).boundaryPage[n](...a), [name, args] as const) as Promise<
        ReturnType<BoundaryPage[K]>
      >;
    const mount = (name: string, explode = true): Promise<void> => call('mount', name, { strict, explode });
    /** Waits for `count` captures, then two more frames, by which every render and commit is done. */
    async function settled(count: number): Promise<PageCapture[]> {
      await page.waitForFunction((n) => (globalThis as any).boundaryPage.captures().length >= n, count, {
        timeout: 5_000,
      });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      return call('captures');
    }

    it('a fallback function that throws: the caught error and the fallback’s are captured once each, the boundary shows nothing', async () => {
      await mount('fallbackThrows');
      const captures = await settled(2);
      expect(captures.map((c) => [c.message, c.tags])).toEqual([
        ['boom inner', { area: 'inner' }],
        ['fallback failed on boom inner', { area: 'inner', react_fallback: true }],
      ]);
      expect(captures[0]!.react?.componentStack).toMatch(/Thrower/);
      expect(captures[1]!.react?.fallbackFor).toBe('err-1');
      expect(await call('onErrorCalls')).toEqual([{ message: 'boom inner', errorId: 'err-1' }]);
      // Contained: the outer boundary saw nothing.
      expect(await call('html')).toBe('<div id="inner"></div>');
      expect(pageErrors).toEqual([]);
    });

    it('a component the fallback renders that throws: both errors captured once each', async () => {
      await mount('fallbackChildThrows');
      const captures = await settled(2);
      expect(captures.map((c) => [c.message, c.tags])).toEqual([
        ['boom inner', { area: 'inner' }],
        ['fallback child failed on boom inner', { area: 'inner', react_fallback: true }],
      ]);
      expect(captures[1]!.react?.componentStack).toMatch(/BrokenFallback/);
      expect(captures[1]!.react?.fallbackFor).toBe('err-1');
      expect(await call('html')).toBe('<div id="inner"></div>');
    });

    it('a static fallback node that throws: both errors captured once each', async () => {
      await mount('staticFallbackThrows');
      const captures = await settled(2);
      expect(captures.map((c) => [c.message, c.tags])).toEqual([
        ['boom inner', { area: 'inner' }],
        ['fallback child failed on static', { area: 'inner', react_fallback: true }],
      ]);
      expect(await call('html')).toBe('<div id="inner"></div>');
    });

    it('a fallback that throws in a later update is captured then, tagged, with the caught error’s id', async () => {
      await mount('fallbackThrowsLater');
      await page.waitForSelector('#break-fallback', { timeout: 5_000 });
      expect(await page.textContent('#break-fallback')).toBe('failed: boom inner (err-1)');
      expect(await settled(1)).toHaveLength(1);
      await page.click('#break-fallback');
      const captures = await settled(2);
      expect(captures.map((c) => [c.message, c.tags, c.react?.fallbackFor])).toEqual([
        ['boom inner', { area: 'inner' }, undefined],
        ['fallback broke later on boom inner', { area: 'inner', react_fallback: true }, 'err-1'],
      ]);
      expect(await call('html')).toBe('<div id="inner"></div>');
      expect(pageErrors).toEqual([]);
    });

    it('after resetKeys tried the children again, a new failure and its fallback’s are captured again', async () => {
      await mount('keyed');
      expect((await settled(2)).map((c) => c.message)).toEqual([
        'boom key 0',
        'fallback failed on boom key 0',
      ]);
      await call('setExplode', false);
      await page.click('#next-key');
      await page.waitForSelector('#content', { timeout: 5_000 });
      await call('setExplode', true);
      await page.click('#next-key');
      const captures = await settled(4);
      expect(captures.map((c) => [c.message, c.react?.fallbackFor])).toEqual([
        ['boom key 0', undefined],
        ['fallback failed on boom key 0', 'err-1'],
        ['boom key 2', undefined],
        ['fallback failed on boom key 2', 'err-3'],
      ]);
    });

    it('an empty id from the telemetry (its errors feature off) reaches the fallback and onError as undefined', async () => {
      await mount('errorsOff');
      await page.waitForSelector('#message', { timeout: 5_000 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      expect(await page.textContent('#message')).toBe('failed: boom off (no id)');
      expect(await call('onErrorCalls')).toEqual([{ message: 'boom off', errorId: undefined }]);
    });
  },
);
