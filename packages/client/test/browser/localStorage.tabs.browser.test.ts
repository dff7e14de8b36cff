/**
 * The localStorage outbox shared by two tabs in Chromium, where a Web Lock handed from one tab
 * to another does not carry the first tab's localStorage writes with it: the tab that takes the
 * lock may still read an older copy of a key for a moment. One tab appends group after group
 * (taking the free lock for each write), the other claims and acks as fast as it can.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, type IngestSink, startChromiumSuite, stopChromiumSuite } from './harness.js';

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
  if (!available) return;
  await context?.close();
});

async function openPage(): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
  return page;
}

declare const homing: PageHoming;

describe.skipIf(!available)('localStorage outbox, two tabs in Chromium', () => {
  it("loses none of a tab's records while the other tab claims and acks as each write lands", async () => {
    const writer = await openPage();
    const holder = await openPage();
    await holder.evaluate(() => {
      homing.keep.outbox = homing.local({ name: 'tabs' });
      homing.keep.stop = false;
    });
    // The holder's loop: claim whatever it sees, ack it at once, until told to stop.
    const received = holder.evaluate(async () => {
      const outbox = homing.keep.outbox as ReturnType<typeof homing.local>;
      const seen: string[] = [];
      while (homing.keep.stop !== true) {
        const batch = await outbox.claim(100, Infinity);
        if (batch === null) {
          await homing.sleep(0);
          continue;
        }
        seen.push(...batch.records.map((r) => r.uuid));
        await outbox.ack(batch);
      }
      // The writer has stopped: let its last writes reach this tab, then take the rest.
      await homing.sleep(300);
      for (let batch = await outbox.claim(1000, Infinity); batch !== null;) {
        seen.push(...batch.records.map((r) => r.uuid));
        await outbox.ack(batch);
        batch = await outbox.claim(1000, Infinity);
      }
      return seen;
    });
    const persisted = await writer.evaluate(async () => {
      const outbox = homing.local({ name: 'tabs' });
      const uuids: string[] = [];
      for (let round = 0; round < 1000; round++) {
        const records = homing.makeRecords('w', round * 2, 2, 100);
        outbox.append(records);
        await outbox.persist();
        uuids.push(...records.map((r) => r.uuid));
        await homing.sleep(round % 3);
      }
      await outbox.close();
      return uuids;
    });
    await holder.evaluate(() => {
      homing.keep.stop = true;
    });
    const got = new Set(await received);
    expect(persisted.filter((uuid) => !got.has(uuid))).toEqual([]);
  }, 40_000);
});
