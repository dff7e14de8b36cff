import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { drain, recordingLogger } from './browserOutbox.test-helpers.js';
import { createBrowserOutbox } from './browser.js';
import { OutboxError } from './errors.js';
import { LOCAL_STORAGE_MAX_BYTES } from './localStorage.js';
import { MemoryStorage } from './localStorage/memoryStorage.test-helpers.js';
import { makeRecords } from './outbox.contract.js';
import type { Outbox } from './outbox.js';

const g = globalThis as { indexedDB?: unknown; localStorage?: unknown };
const realIndexedDB = g.indexedDB;

let n = 0;
const unique = (): string => `browser-${process.pid}-${n++}`;

describe('createBrowserOutbox', () => {
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

  it('uses IndexedDB by default: records survive a new outbox on the same name', async () => {
    const name = unique();
    const logger = recordingLogger();
    const a = make({ name, logger });
    const records = makeRecords(3);
    a.append(records);
    await a.persist();
    await a.close();
    const b = make({ name });
    expect(await drain(b)).toEqual(records.map((r) => r.uuid));
    expect(logger.lines).toContain('debug outbox storage: IndexedDB');
  });

  it('falls back to localStorage when IndexedDB is missing, and says why', async () => {
    delete g.indexedDB;
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const logger = recordingLogger();
    const a = make({ name: unique(), logger });
    a.append(makeRecords(2));
    await a.persist();
    expect(storage.keys().some((k) => k.includes(':c:'))).toBe(true);
    expect(logger.lines.some((l) => l.startsWith('warn IndexedDB cannot be used'))).toBe(true);
  });

  it('moves records appended before a failed IndexedDB open over to localStorage', async () => {
    g.indexedDB = {
      open() {
        const request = {} as IDBOpenDBRequest;
        setTimeout(() => {
          Object.defineProperty(request, 'error', {
            value: new DOMException('private mode', 'InvalidStateError'),
          });
          request.onerror?.(new Event('error') as never);
        }, 5);
        return request;
      },
    };
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const logger = recordingLogger();
    const a = make({ name: unique(), logger });
    const early = makeRecords(3);
    a.append(early);
    const later = makeRecords(1);
    expect(await drain(a)).toEqual(early.map((r) => r.uuid));
    a.append(later);
    await a.persist();
    expect(await drain(a)).toEqual(later.map((r) => r.uuid));
    expect(logger.lines.some((l) => l.includes('could not be opened; falling back'))).toBe(true);
  });

  it('falls back to memory when neither storage can be used (localStorage throwing on write)', async () => {
    delete g.indexedDB;
    g.localStorage = new MemoryStorage(0);
    const logger = recordingLogger();
    const a = make({ name: unique(), logger, limits: { maxEvents: 2 } });
    const drops: number[] = [];
    a.onDrop((d) => drops.push(d.count));
    a.append(makeRecords(3));
    expect(drops).toEqual([1]);
    expect((await drain(a)).length).toBe(2);
    expect(logger.lines).toContain('debug outbox storage: memory (nothing survives the page)');
  });

  it('honours an explicit storage choice', async () => {
    const storage = new MemoryStorage();
    g.localStorage = storage;
    const a = make({ name: unique(), storage: 'localStorage' });
    a.append(makeRecords(1));
    await a.persist();
    expect(storage.keys().some((k) => k.includes(':c:'))).toBe(true);
    const m = make({ name: unique(), storage: 'memory' });
    m.append(makeRecords(1));
    expect((await m.size()).events).toBe(1);
  });

  it("caps the localStorage outbox at 1 MiB unless limits.maxBytes is set: the app keeps the origin's quota", async () => {
    for (const [limits, kept] of [
      [undefined, (n: number) => n < 2500],
      [{ maxBytes: 4 * 1024 * 1024 }, (n: number) => n === 3000],
    ] as const) {
      const storage = new MemoryStorage(20_000_000);
      g.localStorage = storage;
      const o = make({ name: unique(), storage: 'localStorage', ...(limits ? { limits } : {}) });
      // 3 000 records of 500 bytes: 1.5 MB.
      for (let i = 0; i < 3; i++) {
        o.append(makeRecords(1000, 500));
        await o.persist();
      }
      const size = await o.size();
      expect(kept(size.events), `${size.events} events with ${JSON.stringify(limits)}`).toBe(true);
      if (limits === undefined) expect(size.bytes).toBeLessThanOrEqual(LOCAL_STORAGE_MAX_BYTES);
    }
  });

  it('rejects bad options with errors that name the option', () => {
    const cases: [unknown, string][] = [
      [{ storage: 'disk' }, 'storage'],
      [{ limits: { maxEvents: -1 } }, 'limits.maxEvents'],
      [{ limits: 'big' }, 'limits'],
      [{ name: '' }, 'name'],
      [null, 'options'],
    ];
    for (const [options, option] of cases) {
      let error: unknown;
      try {
        createBrowserOutbox(options as never);
      } catch (e) {
        error = e;
      }
      expect(error, option).toBeInstanceOf(OutboxError);
      expect((error as { option: string }).option).toBe(option);
    }
  });
});
