/**
 * The client of a page that may keep nothing (a sandboxed or cross-origin frame with storage
 * blocked, a data: URL): its events are delivered from memory while the page lives, but
 * `persist()` rejects and `stats()` counts none stored and names why. On the code before,
 * `persist()` resolved at once and `stats().persisted` counted every event as stored, with no
 * error, though after a reload nothing arrived. Flush, shutdown and the unload send go on as usual.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../index.js';
import { OutboxIoError } from '../outbox/errors.js';
import { blockLocalStorage, refusedIndexedDB } from '../outbox/refusedStorage.test-helpers.js';
import { createBrowserPlatform } from '../platform/browser.js';
import { Sink, until } from './telemetry.test-helpers.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB;

class FakeDocument extends EventTarget {
  visibilityState = 'visible';
}

afterEach(() => {
  g.indexedDB = realIndexedDB;
  delete g.localStorage;
});

describe('a page whose storage is refused', () => {
  it('delivers from memory; persist() rejects, stats() counts nothing stored and names why; flush, the unload send and shutdown still work', async () => {
    g.indexedDB = refusedIndexedDB();
    blockLocalStorage();
    const sink = await Sink.start();
    const window = new EventTarget();
    const document = new FakeDocument();
    const platform = createBrowserPlatform({
      globals: {
        window,
        document,
        navigator: { onLine: true },
        fetch: globalThis.fetch,
        CompressionStream,
      },
    });
    const uuids: string[] = [];
    const warnings: string[] = [];
    try {
      // The storage a page gets by default.
      const client = createTelemetry({
        name: `refused-${process.pid}`,
        endpoints: [{ destination: 'homing', host: sink.url, key: 'k' }],
        platform,
        rememberConsent: false,
        delivery: { intervalMs: 60_000 },
        logger: { debug() {}, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) },
        beforeSend: (event) => {
          uuids.push(event.uuid);
          return event;
        },
      });
      client.track('first');
      client.track('second');
      await expect(client.persist()).rejects.toBeInstanceOf(OutboxIoError);
      const stats = await client.stats();
      expect(stats.queued).toBe(2);
      expect(stats.persisted).toBe(0);
      expect(stats.lastError?.endpoint).toBe('outbox');
      expect(stats.lastError?.reason).toContain('kept in memory only');

      expect(await client.flush({ timeoutMs: 10_000 })).toEqual({ sent: 2, pending: 0, timedOut: false });
      expect(sink.acceptedUuids).toEqual(uuids);

      // The page is hidden: what was tracked since goes out in the unload send (a text/plain
      // keepalive request), claimed from memory.
      client.track('last');
      document.visibilityState = 'hidden';
      document.dispatchEvent(new Event('visibilitychange'));
      await until(() => sink.acceptedUuids.includes(uuids[2]!), 5_000, 'the unload send');
      expect(sink.requests.at(-1)!.headers['content-type']).toBe('text/plain;charset=UTF-8');

      await client.shutdown({ timeoutMs: 2_000 });
      expect((await client.stats()).persisted).toBe(0);
      expect(warnings).toContain('persist at shutdown failed');
    } finally {
      await sink.down();
    }
  });
});
