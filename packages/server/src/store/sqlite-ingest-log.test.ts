import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prepareEvents } from './prepare-events.js';
import { ev } from './store.contract.js';
import { decimalMs, encodeCall, IngestLog } from './sqlite-ingest-log.js';
import { createKeyFilter, FILTER_READY } from './sqlite-key-filter.js';
import { LOG_FILE, openLogFile } from './sqlite-log-file.js';
import { openSqlite, tempDir } from './sqlite.test-helpers.js';

describe('IngestLog', () => {
  it('trusts the key filter exactly while it covers the expanded id committed', async () => {
    const dir = tempDir();
    const store = await openSqlite({ dataDir: dir });
    const p = await store.createProject('p');
    const stored = ev();
    await store.insertEvents(p.id, [stored]);
    await store.drain();
    await store.close();

    const db = new Database(join(dir, 'homing.db'));
    const logDb = openLogFile(join(dir, LOG_FILE), {
      synchronous: 'normal',
      busyTimeoutMs: 1000,
      walAutocheckpointPages: 1000,
    });
    const expanded = db.prepare('SELECT expanded_through FROM ingest_progress').pluck().get() as number;
    const pk = db.prepare('SELECT pk FROM projects WHERE id = ?').pluck().get(p.id) as number;
    // Ready and empty: trusted, it says the stored event's key is new.
    const filter = createKeyFilter(1)!;
    Atomics.store(filter, 0, FILTER_READY);
    let published = expanded - 1;
    const log = new IngestLog(logDb, db, { filter, covers: (id) => id === published });
    const append = (batch = [stored]) => {
      const { events, keys } = prepareEvents(batch);
      return log.append([{ projectPk: pk, keys, call: encodeCall(events), erased: 0 }])[0];
    };
    const lastPayload = () =>
      logDb.prepare('SELECT payload FROM ingest_log ORDER BY id DESC LIMIT 1').pluck().get() as string;
    try {
      expect(expanded).toBeGreaterThan(0);
      // Not the id committed (another connection's expansion, or the worker's not yet published).
      expect(append()).toEqual({ accepted: 0, duplicates: 1, erased: 0 });
      // A call with duplicates logs the others' part of its payload, as if they came alone.
      const [a, c] = [ev({ properties: { n: 1 } }), ev({ uuid: 'not-a-uuid', properties: { n: 3 } })];
      expect(append([a, stored, c])).toEqual({ accepted: 2, duplicates: 1, erased: 0 });
      expect(lastPayload()).toBe(encodeCall(prepareEvents([a, c]).events).payload);
      published = expanded;
      expect(append()).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      expect(lastPayload()).toBe(encodeCall(prepareEvents([stored]).events).payload);
    } finally {
      logDb.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes a timestamp in ms as String does', () => {
    for (const ms of [0, 1, 99_999_999, 100_000_000, 100_000_001, 1_767_225_600_000, 8.64e15, -1, -8.64e15]) {
      expect(decimalMs(ms)).toBe(String(ms));
    }
    fc.assert(
      fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
        expect(decimalMs(ms)).toBe(String(ms));
      }),
      { numRuns: 2000 },
    );
  });
});
