/**
 * `$session_id` in Chromium: one session across a page's reloads and navigations and the tabs of
 * its origin (kept in localStorage), a new one after `reset()`. On the code before, the session
 * lived in each page's memory: every load and every tab started its own.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PageHoming } from '../../test/browser/entry.js';
import {
  chromiumAvailable,
  type IngestSink,
  startChromiumSuite,
  stopChromiumSuite,
} from '../../test/browser/harness.js';

const available = chromiumAvailable();

let server: { url: string; close(): Promise<void> };
let sink: IngestSink;
let browser: Browser;
let context: BrowserContext;

beforeAll(async () => {
  if (!available) return;
  ({ server, sink, browser } = await startChromiumSuite());
}, 60_000);

afterAll(async () => {
  if (available) await stopChromiumSuite({ server, sink, browser });
});

beforeEach(async () => {
  if (!available) return;
  context = await browser.newContext();
});

afterEach(async () => {
  if (available) await context?.close();
});

declare const homing: PageHoming;

async function openPage(page?: Page, path = '/'): Promise<Page> {
  page ??= await context.newPage();
  await page.goto(`${server.url}${path}`);
  await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
  return page;
}

/**
 * The real client with the browser defaults tracks `event` (after `reset()` when asked) and
 * answers the `$session_id` of each event it delivered.
 */
function trackOn(page: Page, event: string, reset = false): Promise<string[]> {
  return page.evaluate(
    async ({ event: e, reset: r }) => {
      const sessions: string[] = [];
      const client = homing.telemetry(
        {
          name: 'sessions',
          endpoints: [
            {
              destination: 'custom',
              send: async (events) => {
                for (const ev of events) sessions.push(String(ev.properties.$session_id));
              },
            },
          ],
        },
        [],
      );
      if (r) client.reset();
      client.track(e);
      await client.flush({ timeoutMs: 10_000 });
      await client.shutdown({ timeoutMs: 1_000 });
      return sessions;
    },
    { event, reset },
  );
}

describe.skipIf(!available)('$session_id in Chromium', () => {
  it('is one session across reloads, navigations and tabs of the origin; reset() starts a new one', async () => {
    const page = await openPage();
    const [first] = await trackOn(page, 'page1.view');
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    await openPage(page, '/?second');
    expect(await trackOn(page, 'page2.view')).toEqual([first]);
    await page.reload();
    await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
    expect(await trackOn(page, 'reloaded.view')).toEqual([first]);
    const tab = await openPage();
    expect(await trackOn(tab, 'tab2.view')).toEqual([first]);

    const [afterReset] = await trackOn(tab, 'logged.out', true);
    expect(afterReset).not.toBe(first);
    // The new session is the origin's now: the first tab's next load joins it.
    await page.reload();
    await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
    expect(await trackOn(page, 'page1.again')).toEqual([afterReset]);
  });
});
