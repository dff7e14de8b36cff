/**
 * The page side of the Chromium tests: bundled by `harness.ts` (with `idb` and
 * `@homing/resilience` from source) and exposed as `globalThis.homing` for `page.evaluate`.
 */
import { Delivery } from '../../src/delivery/Delivery.js';
import { resolveDeliveryOptions } from '../../src/delivery/deliveryOptions.js';
import type { DeliveryOptionsInput } from '../../src/delivery/deliveryOptions.js';
import { silentLogger } from '../../src/logger.js';
import { createBrowserOutbox } from '../../src/outbox/browser.js';
import { recordingLogger } from '../../src/outbox/browserOutbox.test-helpers.js';
import type { BrowserOutboxOptions } from '../../src/outbox/browser.js';
import { createIndexedDBOutbox } from '../../src/outbox/indexeddb.js';
import type { IndexedDBOutboxOptions } from '../../src/outbox/indexeddb.js';
import { createLocalStorageOutbox } from '../../src/outbox/localStorage.js';
import type { LocalStorageOutboxOptions } from '../../src/outbox/localStorage.js';
import type { Outbox, OutboxDrop, OutboxRecord } from '../../src/outbox/outbox.js';
import { createBrowserPlatform } from '../../src/platform/browser.js';
import { createTelemetry } from '../../src/index.js';
import type { TelemetryOptions } from '../../src/index.js';

/**
 * Records shaped as Homing events, `size` bytes of JSON or a little more. `random` pads with
 * random letters: Chromium compresses IndexedDB values, so a repeated pad would take no room.
 */
function makeRecords(
  prefix: string,
  from: number,
  count: number,
  size = 200,
  random = false,
): OutboxRecord[] {
  const out: OutboxRecord[] = [];
  for (let i = from; i < from + count; i++) {
    const uuid = `${prefix}-${String(i).padStart(6, '0')}`;
    const timestamp = new Date().toISOString();
    const base = { uuid, event: 'test.event', distinct_id: 'd-1', timestamp, properties: { i, pad: '' } };
    const padLength = Math.max(0, size - JSON.stringify(base).length);
    base.properties.pad = random ? randomLetters(padLength) : 'x'.repeat(padLength);
    out.push({ uuid, json: JSON.stringify(base), timestampMs: Date.parse(timestamp) });
  }
  return out;
}

function randomLetters(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let out = '';
  for (const b of bytes) out += String.fromCharCode(97 + (b % 26));
  return out;
}

/** Drop events seen by an outbox, for the test to read. */
function countDrops(outbox: Outbox): Record<string, number> {
  const counts: Record<string, number> = {};
  outbox.onDrop((d: OutboxDrop) => {
    counts[d.reason] = (counts[d.reason] ?? 0) + d.count;
  });
  return counts;
}

const APP_DATABASE = 'the-app-own-data';

/**
 * Fills the origin's quota with the app's own data (a database of its own, not Homing's), in
 * ever smaller values until not even 1 KB fits; answers the bytes it stored.
 */
async function fillOrigin(): Promise<number> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const request = indexedDB.open(APP_DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore('blobs', { autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('open failed'));
  });
  let stored = 0;
  try {
    // Random bytes: Chromium compresses values, so a repeated pad would take no room.
    for (const size of [64 * 1024, 16 * 1024, 4 * 1024, 1024]) {
      for (;;) {
        const value = crypto.getRandomValues(new Uint8Array(size));
        const ok = await new Promise<boolean>((resolve) => {
          const tx = db.transaction('blobs', 'readwrite');
          tx.objectStore('blobs').add(value);
          tx.oncomplete = () => resolve(true);
          tx.onabort = () => resolve(false);
          tx.onerror = () => resolve(false);
        });
        if (!ok) break;
        stored += size;
      }
    }
  } finally {
    db.close();
  }
  return stored;
}

function deleteAppDatabase(): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(APP_DATABASE);
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error ?? new Error('delete failed'));
  });
}

function startDelivery(outbox: Outbox, input: DeliveryOptionsInput): Delivery {
  const delivery = new Delivery(outbox, resolveDeliveryOptions(input), {
    platform: createBrowserPlatform(),
    logger: silentLogger,
    emit: () => undefined,
  });
  delivery.start();
  return delivery;
}

const homing = {
  idb: (options: IndexedDBOutboxOptions) => createIndexedDBOutbox(options),
  local: (options: LocalStorageOutboxOptions) => createLocalStorageOutbox(options),
  browser: (options: BrowserOutboxOptions) => createBrowserOutbox(options),
  makeRecords,
  countDrops,
  recordingLogger,
  startDelivery,
  /**
   * The real client with the browser defaults (IndexedDB outbox, browser platform); the uuid of
   * every event it stores is pushed to `uuids`, so a test knows what must arrive, and
   * `name=distinct_id` to `distinctIds` when given.
   */
  telemetry(options: TelemetryOptions, uuids: string[], distinctIds?: string[]) {
    return createTelemetry({
      ...options,
      beforeSend: (event) => {
        uuids.push(event.uuid);
        distinctIds?.push(`${event.event}=${event.distinct_id}`);
        return event;
      },
    });
  },
  fillOrigin,
  freeOrigin: () => deleteAppDatabase(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
  /** Page-lifetime objects the tests keep between evaluate calls. */
  keep: {} as Record<string, unknown>,
};

export type PageHoming = typeof homing;
(globalThis as { homing?: PageHoming }).homing = homing;
