/**
 * A page where no durable storage can be opened (a sandboxed or cross-origin frame with storage
 * blocked, a data: URL: IndexedDB and localStorage both refused). The browser outbox keeps the
 * events in memory and delivers them, but `persist()` rejects naming why; on the code before it
 * resolved at once, and the app took as stored what no later page load would find.
 */
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, recordingLogger } from './browserOutbox.test-helpers.js';
import { createBrowserOutbox } from './browser.js';
import { OutboxIoError } from './errors.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox } from './outbox.js';
import { blockLocalStorage, refusedIndexedDB } from './refusedStorage.test-helpers.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB;

let n = 0;
const unique = (): string => `standin-${process.pid}-${n++}`;

async function persistError(outbox: Outbox): Promise<OutboxIoError> {
  const error = await outbox.persist().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboxIoError);
  return error as OutboxIoError;
}

describe('the browser outbox when no durable storage can be opened', () => {
  const opened: Outbox[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close();
    g.indexedDB = realIndexedDB;
    delete g.localStorage;
  });
  function make(options: Parameters<typeof createBrowserOutbox>[0]): Outbox {
    const o = createBrowserOutbox(options);
    opened.push(o);
    return o;
  }

  it('IndexedDB refused at open, localStorage blocked: delivers from memory, but persist() rejects naming both', async () => {
    g.indexedDB = refusedIndexedDB();
    blockLocalStorage();
    const logger = recordingLogger();
    const outbox = make({ name: unique(), logger });
    // Appended before the open failed: moved over, and still delivered.
    const early = makeRecords(3);
    outbox.append(early);
    expect(await drain(outbox)).toEqual(early.map((r) => r.uuid));
    expect(logger.lines.some((l) => l.startsWith('warn the IndexedDB outbox could not be opened'))).toBe(
      true,
    );
    const later = makeRecords(2);
    outbox.append(later);

    const error = await persistError(outbox);
    expect(error.kind).toBe('io');
    expect(error.message).toContain('kept in memory only');
    expect(error.message).toContain('neither IndexedDB nor localStorage can be used');
    const causes = (error.cause as AggregateError).errors.map((e: Error) => e.message);
    expect(causes[0]).toContain('access to the Indexed Database API is denied');
    expect(causes[1]).toContain('sandboxed');
    // Still an outbox: what waits is claimed, and persist() rejects again rather than hang.
    expect(await drain(outbox)).toEqual(later.map((r) => r.uuid));
    await expect(outbox.persist()).rejects.toBeInstanceOf(OutboxIoError);
    expect((await outbox.size()).events).toBe(0);
  });

  it('no IndexedDB at all (an older browser, a context without it) and localStorage blocked: the same', async () => {
    delete g.indexedDB;
    blockLocalStorage();
    const outbox = make({ name: unique() });
    outbox.append(makeRecords(2));
    expect((await persistError(outbox)).message).toContain('neither IndexedDB nor localStorage');
    expect((await drain(outbox)).length).toBe(2);
  });

  it("an explicit 'localStorage' that cannot be used: persist() rejects with localStorage's error", async () => {
    blockLocalStorage();
    const outbox = make({ name: unique(), storage: 'localStorage' });
    outbox.append(makeRecords(1));
    expect((await persistError(outbox)).message).toContain('sandboxed');
    expect((await drain(outbox)).length).toBe(1);
  });

  it("storage 'memory', the app's own choice, is not a failure: persist() resolves", async () => {
    blockLocalStorage();
    const outbox = make({ name: unique(), storage: 'memory' });
    outbox.append(makeRecords(1));
    await expect(outbox.persist()).resolves.toBeUndefined();
  });
});
