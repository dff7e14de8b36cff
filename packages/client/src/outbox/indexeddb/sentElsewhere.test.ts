import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createIndexedDBOutbox } from '../indexeddb.js';
import type { IndexedDBOutbox } from '../indexeddb.js';
import { makeRecords } from '../outbox.contract.js';
import { deleteOutboxDatabase } from './deleteDatabase.test-helpers.js';

let next = 0;
const unique = (): string => `sent-elsewhere-${process.pid}-${next++}`;

/**
 * The uuids an unload claim takes once the holder's message has come (a BroadcastChannel
 * delivers on a later task): claimed and given back until it holds `expected` records, or 1 s.
 */
async function unloadClaim(outbox: IndexedDBOutbox, expected = 1): Promise<string[]> {
  for (let i = 0; ; i++) {
    const batch = outbox.claimInMemory(100, Infinity);
    const uuids = batch?.records.map((r) => r.uuid) ?? [];
    if (batch !== null) await outbox.release(batch);
    if (uuids.length <= expected || i === 200) return uuids;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('IndexedDBOutbox: records another tab sent are not sent again on unload', () => {
  const opened: IndexedDBOutbox[] = [];
  let name = '';
  afterEach(async () => {
    for (const outbox of opened.splice(0)) await outbox.close();
    await deleteOutboxDatabase(name);
  });

  const tabs = (): { holder: IndexedDBOutbox; other: IndexedDBOutbox } => {
    name = unique();
    const holder = createIndexedDBOutbox({ name, locks: null, persistIntervalMs: 60_000 });
    const other = createIndexedDBOutbox({ name, locks: null, persistIntervalMs: 60_000 });
    opened.push(holder, other);
    return { holder, other };
  };

  it('acked by the tab holding the delivery lock: the other tab forgets them', async () => {
    const { holder, other } = tabs();
    const records = makeRecords(5);
    other.append(records);
    await other.persist();
    const batch = await holder.claim(100, Infinity);
    expect(batch?.records.map((r) => r.uuid)).toEqual(records.map((r) => r.uuid));
    await holder.ack(batch!);
    // Its own, tracked after: still the other tab's to send when it goes away.
    const later = makeRecords(1);
    other.append(later);
    expect(await unloadClaim(other)).toEqual([later[0]!.uuid]);
  });

  it('dead-lettered by it: forgotten too', async () => {
    const { holder, other } = tabs();
    const records = makeRecords(3);
    other.append(records);
    await other.persist();
    const batch = await holder.claim(100, Infinity);
    await holder.deadLetter(batch!.records.slice(0, 2), 'refused');
    await holder.release(batch!);
    const left = await unloadClaim(other, 1);
    expect(left).toEqual([records[2]!.uuid]);
  });
});
