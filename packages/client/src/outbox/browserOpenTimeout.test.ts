import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../logger.js';
import { blockedOpens, drain, recordingLogger, restoreBrowserGlobals } from './browserOutbox.test-helpers.js';
import { createBrowserOutbox } from './browser.js';
import { OPEN_TIMEOUT_MS } from './indexeddb/schema.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox } from './outbox.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB as IDBFactory;

let n = 0;
const unique = (): string => `open-timeout-${process.pid}-${n++}`;

describe('createBrowserOutbox when the IndexedDB open never answers', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(() => restoreBrowserGlobals(cleanups, realIndexedDB, () => vi.useRealTimers()));

  /** The outbox, with the open given up on (OPEN_TIMEOUT_MS passed): localStorage in use from now. */
  async function fallenBack(
    during: (outbox: Outbox) => void,
  ): Promise<{ outbox: Outbox; logger: Logger & { lines: string[] } }> {
    const { factory, unblock } = await blockedOpens(realIndexedDB);
    cleanups.push(unblock);
    g.indexedDB = factory;
    g.localStorage = new MemoryStorage();
    const logger = recordingLogger();
    // Only the open's timer is faked (and the outboxes' own): fake-indexeddb runs on setImmediate.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const outbox = createBrowserOutbox({ name: unique(), logger });
    cleanups.push(() => outbox.close());
    during(outbox);
    await vi.advanceTimersByTimeAsync(OPEN_TIMEOUT_MS);
    vi.useRealTimers();
    return { outbox, logger };
  }

  it('falls back to localStorage after OPEN_TIMEOUT_MS, with the records appended meanwhile, once each', async () => {
    const early = makeRecords(4);
    const { outbox, logger } = await fallenBack((o) => o.append(early));
    expect(logger.lines.some((l) => l.includes('could not be opened; falling back'))).toBe(true);
    const later = makeRecords(2);
    outbox.append(later);
    expect(await drain(outbox)).toEqual([...early, ...later].map((r) => r.uuid));
    expect((await outbox.size()).events).toBe(0);
  });

  it('an unload batch claimed while the open was pending: acked, its records are not sent again; released, they move over', async () => {
    const records = makeRecords(6);
    let acked: Parameters<Outbox['ack']>[0] | null = null;
    let released: Parameters<Outbox['ack']>[0] | null = null;
    const { outbox } = await fallenBack((o) => {
      o.append(records);
      // A hidden page's unload send, from the records the IndexedDB outbox keeps in memory.
      acked = o.claimInMemory!(2, Infinity);
      released = o.claimInMemory!(2, Infinity);
    });
    expect(acked!.records.map((r) => r.uuid)).toEqual(records.slice(0, 2).map((r) => r.uuid));
    expect(released!.records.map((r) => r.uuid)).toEqual(records.slice(2, 4).map((r) => r.uuid));
    await outbox.ack(acked!);
    await outbox.release(released!);
    expect((await drain(outbox)).sort()).toEqual(
      records
        .slice(2)
        .map((r) => r.uuid)
        .sort(),
    );
  });
});
