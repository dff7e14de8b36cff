/**
 * `$session_id` in Chromium: one session across a page's reloads and navigations and the tabs of
 * its origin (kept in localStorage), a new one after `reset()`. On the code before, the session
 * lived in each page's memory: every load and every tab started its own.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';

const available = chromiumAvailable();
const suite = useChromiumSuite();

declare const homing: PageHoming;

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
    const page = await suite.openPage();
    const [first] = await trackOn(page, 'page1.view');
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    await suite.openPage('/?second', page);
    expect(await trackOn(page, 'page2.view')).toEqual([first]);
    await page.reload();
    await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
    expect(await trackOn(page, 'reloaded.view')).toEqual([first]);
    const tab = await suite.openPage();
    expect(await trackOn(tab, 'tab2.view')).toEqual([first]);

    const [afterReset] = await trackOn(tab, 'logged.out', true);
    expect(afterReset).not.toBe(first);
    // The new session is the origin's now: the first tab's next load joins it.
    await page.reload();
    await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
    expect(await trackOn(page, 'page1.again')).toEqual([afterReset]);
  });
});
