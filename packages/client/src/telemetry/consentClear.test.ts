import 'fake-indexeddb/auto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFileOutbox } from '../outbox/file-log/createFileOutbox.js';
import { createIndexedDBOutbox } from '../outbox/indexeddb.js';
import { deleteOutboxDatabase } from '../outbox/indexeddb/deleteDatabase.test-helpers.js';
import { createLocalStorageOutbox } from '../outbox/localStorage.js';
import { MemoryStorage } from '../outbox/localStorage/memoryStorage.test-helpers.js';
import { createMemoryOutbox } from '../outbox/memory.js';
import type { Outbox } from '../outbox/outbox.js';
import { makeRecords } from '../outbox/outbox.contract.js';
import { clientFor, Sink, sinkEvents } from './telemetry.test-helpers.js';

/**
 * A denial clears what was held when it was set, and only that: events tracked once consent is
 * granted (or pending) again, while the outbox's asynchronous `clear()` still runs, are kept.
 * The clear used to empty the whole queue when it got to it, taking those events too.
 */
const dirs: string[] = [];
let next = 0;
const outboxes: Array<{ name: string; make: () => { outbox: Outbox; dispose: () => Promise<void> } }> = [
  {
    name: 'file',
    make: () => {
      const directory = mkdtempSync(path.join(os.tmpdir(), 'homing-consent-clear-'));
      dirs.push(directory);
      return { outbox: createFileOutbox({ directory }), dispose: async () => {} };
    },
  },
  {
    name: 'indexeddb',
    make: () => {
      const name = `consent-clear-${process.pid}-${next++}`;
      return {
        outbox: createIndexedDBOutbox({ name, locks: null }),
        dispose: () => deleteOutboxDatabase(name),
      };
    },
  },
  {
    name: 'localStorage',
    make: () => ({
      outbox: createLocalStorageOutbox({ storage: new MemoryStorage(), locks: null }),
      dispose: async () => {},
    }),
  },
  { name: 'memory', make: () => ({ outbox: createMemoryOutbox(), dispose: async () => {} }) },
];

describe('consent denied then granted while the clear runs', () => {
  let sink: Sink;
  beforeAll(async () => {
    sink = await Sink.start();
  });
  beforeEach(() => {
    sink.requests.length = 0;
  });
  afterAll(() => {
    sink.down();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  for (const { name, make } of outboxes) {
    it(`${name}: events tracked after the grant are sent; only the held ones count as consent`, async () => {
      const { outbox, dispose } = make();
      const t = clientFor(sink, { consent: 'pending', storage: outbox, rememberConsent: false });
      for (let i = 0; i < 200; i++) t.track('held', { i });
      await t.persist();
      t.setConsent('denied');
      t.setConsent('granted');
      for (let i = 0; i < 5; i++) t.track('after', { i });
      await t.persist();
      await t.flush({ timeoutMs: 10_000 });
      expect(sinkEvents(sink).map((e) => `${e.event}${String(e.properties.i)}`)).toEqual([
        'after0',
        'after1',
        'after2',
        'after3',
        'after4',
      ]);
      const stats = await t.stats();
      expect(stats.dropped.consent).toBe(200);
      expect(stats.sent).toBe(5);
      await t.shutdown({ timeoutMs: 5_000 });
      await outbox.close();
      await dispose();
    });

    it(`${name}: a denial purges the dead letters too, so a replay cannot send them later`, async () => {
      const { outbox, dispose } = make();
      const records = makeRecords(3);
      outbox.append(records);
      await outbox.persist();
      const batch = await outbox.claim(2, Infinity);
      await outbox.deadLetter(batch!.records, 'HTTP 400');
      await outbox.release(batch!);
      const refused = records.slice(0, 2).map((r) => r.uuid);
      expect((await outbox.listDeadLetters()).map((d) => d.record.uuid)).toEqual(refused);
      const t = clientFor(sink, { consent: 'pending', storage: outbox, rememberConsent: false });
      t.setConsent('denied');
      await t.persist();
      expect(await outbox.listDeadLetters()).toEqual([]);
      expect(await outbox.replayDeadLetters()).toBe(0);
      expect((await outbox.size()).events).toBe(0);
      await t.shutdown({ timeoutMs: 5_000 });
      expect(sinkEvents(sink)).toEqual([]);
      await outbox.close();
      await dispose();
    });

    it(`${name}: a second denial while the first clear runs drops what was tracked between`, async () => {
      const { outbox, dispose } = make();
      const t = clientFor(sink, { consent: 'pending', storage: outbox, rememberConsent: false });
      for (let i = 0; i < 50; i++) t.track('held');
      await t.persist();
      t.setConsent('denied');
      t.setConsent('pending');
      for (let i = 0; i < 3; i++) t.track('between');
      t.setConsent('denied');
      t.setConsent('granted');
      t.track('kept');
      await t.flush({ timeoutMs: 10_000 });
      expect(sinkEvents(sink).map((e) => e.event)).toEqual(['kept']);
      const stats = await t.stats();
      expect(stats.dropped.consent).toBe(53);
      expect(stats.queued).toBe(54);
      await t.shutdown({ timeoutMs: 5_000 });
      await outbox.close();
      await dispose();
    });
  }
});

describe('consent denied with an outbox of the app’s own', () => {
  it('one without purgeDeadLetters (plain JavaScript) still clears, with no warning', async () => {
    const sink = await Sink.start();
    const outbox = createMemoryOutbox();
    (outbox as { purgeDeadLetters?: unknown }).purgeDeadLetters = undefined;
    const warnings: string[] = [];
    const logger = { debug() {}, warn: (message: string) => warnings.push(message), error() {} };
    try {
      const t = clientFor(sink, { consent: 'pending', storage: outbox, rememberConsent: false, logger });
      for (let i = 0; i < 3; i++) t.track('held');
      await t.persist();
      t.setConsent('denied');
      t.setConsent('granted');
      t.track('after');
      await t.flush({ timeoutMs: 10_000 });
      expect(sinkEvents(sink).map((e) => e.event)).toEqual(['after']);
      expect((await t.stats()).dropped.consent).toBe(3);
      expect(warnings).toEqual([]);
      await t.shutdown({ timeoutMs: 5_000 });
    } finally {
      await outbox.close();
      sink.down();
    }
  });
});
