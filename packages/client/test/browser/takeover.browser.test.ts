/**
 * The browser outbox taking over, in real Chromium (Web Locks, localStorage, IndexedDB), what a
 * localStorage fallback left: after an IndexedDB open that was only slow (given up on after
 * OPEN_TIMEOUT_MS), the next load, where it opens at once, sends the records; two tabs opening
 * at once take each record once.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { PageHoming } from './entry.js';
import { chromiumAvailable, useChromiumSuite } from './harness.js';

const available = chromiumAvailable();
const chromium = useChromiumSuite();
const openPage = () => chromium.openPage();

declare const homing: PageHoming;

describe.skipIf(!available)(
  'the browser outbox takes over what a localStorage fallback left (Chromium)',
  () => {
    it('an open that was only slow: load 1 falls back, load 2 (IndexedDB at once) claims its records; no false errors', async () => {
      const page = await openPage();
      const first = await page.evaluate(async () => {
        // A connection that takes 6 s to close, and a delete waiting for it: the outbox's open
        // queues behind both and answers after OPEN_TIMEOUT_MS (5 s).
        const name = 'homing-outbox:slow';
        const raw = await new Promise<IDBDatabase>((resolve, reject) => {
          const q = indexedDB.open(name, 1);
          q.onsuccess = () => resolve(q.result);
          q.onerror = () => reject(q.error);
        });
        raw.onversionchange = () => setTimeout(() => raw.close(), 6000);
        indexedDB.deleteDatabase(name);
        const logger = homing.recordingLogger();
        const outbox = homing.browser({ name: 'slow', logger });
        const records = homing.makeRecords('s', 0, 5);
        outbox.append(records);
        await outbox.persist();
        const size = await outbox.size();
        await outbox.close();
        return { uuids: records.map((r) => r.uuid), events: size.events, lines: logger.lines };
      });
      expect(first.events).toBe(5);
      expect(first.lines.some((l) => l.includes('falling back to localStorage'))).toBe(true);
      expect(first.lines.filter((l) => l.startsWith('error'))).toEqual([]);

      await page.reload();
      await page.waitForFunction(() => (globalThis as { homing?: unknown }).homing !== undefined);
      const second = await page.evaluate(async () => {
        const outbox = homing.browser({ name: 'slow' });
        const claimed: string[] = [];
        for (let b = await outbox.claim(100, Infinity); b !== null; b = await outbox.claim(100, Infinity)) {
          claimed.push(...b.records.map((r) => r.uuid));
          await outbox.ack(b);
        }
        await outbox.close();
        return {
          claimed,
          left: Object.keys(localStorage).filter((k) => k.startsWith('homing-outbox:slow:c:')).length,
        };
      });
      expect(second.claimed).toEqual(first.uuids);
      expect(second.left).toBe(0);
    }, 30_000);

    it('two tabs opening at once take over each record once (the Web Lock the two outboxes share)', async () => {
      const setup = await openPage();
      const uuids = await setup.evaluate(async () => {
        // What a fallback leaves: the localStorage outbox of the same name.
        const outbox = homing.local({ name: 'tabs' });
        const records = homing.makeRecords('t', 0, 200);
        outbox.append(records);
        await outbox.persist();
        await outbox.close();
        return records.map((r) => r.uuid);
      });
      const [a, b] = [await openPage(), await openPage()];
      const drain = (page: Page) =>
        page.evaluate(async () => {
          const outbox = homing.browser({ name: 'tabs' });
          const claimed: string[] = [];
          const deadline = Date.now() + 15_000;
          while (Date.now() < deadline) {
            const batch = await outbox.claim(20, Infinity);
            if (batch === null) {
              const left = Object.keys(localStorage).some((k) => k.startsWith('homing-outbox:tabs:c:'));
              if (!left && (await outbox.size()).events === 0) break;
              await homing.sleep(50);
              continue;
            }
            claimed.push(...batch.records.map((r) => r.uuid));
            await outbox.ack(batch);
          }
          await outbox.close();
          return claimed;
        });
      const [fromA, fromB] = await Promise.all([drain(a), drain(b)]);
      const all = [...fromA, ...fromB];
      expect(all.length).toBe(200);
      expect(new Set(all)).toEqual(new Set(uuids));
    }, 30_000);
  },
);
