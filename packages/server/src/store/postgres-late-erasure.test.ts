import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freshDatabase, postgresReachable } from './postgres.test-helpers.js';
import { PostgresStore } from './postgres.js';
import { ev } from './store.contract.js';

const reachable = await postgresReachable();

/**
 * The re-check a write runs after a commit slower than the second deletion allows
 * (`dropLateErased`): two stores (two `homing serve` processes) on one database; `b` reads other
 * processes' erasures once a minute, and its write comes 2 s after its last read (Date only is
 * faked, so the driver's timers run as usual), as late as one held up behind a lock or a full pool.
 */
describe.skipIf(!reachable)('PostgresStore: a late write looks again for erasures', () => {
  let db: { url: string; drop: () => Promise<void> };
  const stores: PostgresStore[] = [];
  let a: PostgresStore;
  let b: PostgresStore;
  const old = '2026-01-01T00:00:00.000Z';
  const late = <T>(fn: () => Promise<T>): Promise<T> => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 2000 });
    return fn().finally(() => vi.useRealTimers());
  };

  beforeEach(async () => {
    db = await freshDatabase();
    // `a` erases, with its own second deletion off: only `b`'s look can catch what follows.
    a = new PostgresStore({ url: db.url, erasureSweepMs: 0 });
    b = new PostgresStore({ url: db.url, suppressionRefreshMs: 60_000, erasureSweepMs: 1000 });
    stores.push(a, b);
    await a.migrate();
    await b.migrate();
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    await db.drop();
  });

  it('deletes only what this call stored, of the erased person: another person’s event under the key stays', async () => {
    const p = await a.createProject('p');
    const shared = '11111111-2222-4333-8444-555555555555';
    await a.insertEvents(p.id, [ev({ uuid: shared, distinctId: 'bob', timestamp: old })]);
    await a.erasePerson(p.id, 'alice', 'admin');
    // alice's event under bob's key is a duplicate (never written), carol's is new.
    const result = await late(() =>
      b.insertEvents(p.id, [
        ev({ uuid: shared, distinctId: 'alice', timestamp: old }),
        ev({ distinctId: 'carol', timestamp: old }),
      ]),
    );
    expect(result).toEqual({ accepted: 1, duplicates: 0, erased: 1 });
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 })).toHaveLength(1);
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'carol', limit: 10 })).toHaveLength(1);
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'alice', limit: 10 })).toEqual([]);
  });

  it('erases an event received before the erasure whatever its timestamp (a clock ahead), as the erasure does', async () => {
    const p = await a.createProject('p');
    const receivedAt = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 5));
    await a.erasePerson(p.id, 'alice', 'admin');
    // Received before the erasure, timestamped an hour after it, written after it.
    const ahead = new Date(Date.now() + 3_600_000).toISOString();
    const after = new Date(Date.now() + 60_000).toISOString();
    const victim = ev({ distinctId: 'alice', timestamp: ahead, receivedAt });
    const result = await late(() =>
      b.insertEvents(p.id, [victim, ev({ distinctId: 'bob', timestamp: ahead, receivedAt })]),
    );
    expect(result).toEqual({ accepted: 1, duplicates: 0, erased: 1 });
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'alice', limit: 10 })).toEqual([]);
    // Sent again (its 2xx lost), now received after the erasure: its key was kept, so it stays
    // erased, through either store.
    const resent = { ...victim, receivedAt: new Date(Date.now() + 1000).toISOString() };
    expect(await a.insertEvents(p.id, [resent])).toEqual({ accepted: 0, duplicates: 0, erased: 1 });
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'alice', limit: 10 })).toEqual([]);
    // Received after the erasure and timestamped after it: the person came back, it stays.
    const again = await late(() =>
      b.insertEvents(p.id, [
        ev({ distinctId: 'alice', timestamp: after, receivedAt: new Date(Date.now() + 1000).toISOString() }),
      ]),
    );
    expect(again).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
    expect(await a.queryEvents({ projectId: p.id, distinctId: 'bob', limit: 10 })).toHaveLength(1);
  });

  it('counts a duplicate of the erased person’s own stored event as erased, and deletes nothing else', async () => {
    const p = await a.createProject('p');
    const stored = ev({ distinctId: 'alice', timestamp: old });
    const other = ev({ distinctId: 'bob', timestamp: old });
    // `c` has not seen the erasure and its writes are never late: it stores alice's event after
    // the erasure, and nothing deletes it (`a`'s second deletion is off).
    const c = new PostgresStore({ url: db.url, suppressionRefreshMs: 60_000, erasureSweepMs: 600_000 });
    stores.push(c);
    await c.migrate();
    await a.insertEvents(p.id, [other]);
    await a.erasePerson(p.id, 'alice', 'admin');
    expect(await c.insertEvents(p.id, [stored])).toMatchObject({ accepted: 1 });
    const result = await late(() =>
      b.insertEvents(p.id, [stored, other, ev({ distinctId: 'alice', timestamp: old })]),
    );
    expect(result).toEqual({ accepted: 0, duplicates: 1, erased: 2 });
    // The erased person's own unswept copy goes too; bob's, under the batch's other key, stays.
    expect((await a.queryEvents({ projectId: p.id, limit: 10 })).map((e) => e.uuid)).toEqual([other.uuid]);
  });

  it('judges an event stamped with its receive time for its age by the time it happened (clampedFrom)', async () => {
    const p = await a.createProject('p');
    await a.erasePerson(p.id, 'alice', 'admin');
    // Received after the erasure, from a clock reset to 1970: stored at its receive time, but it
    // happened before the erasure. Bob's, alike, and alice's dated after the erasure, stay.
    const now = new Date(Date.now() + 1000).toISOString();
    const stamped = { timestamp: now, receivedAt: now };
    const back = ev({
      distinctId: 'alice',
      ...stamped,
      clampedFrom: new Date(Date.now() + 500).toISOString(),
    });
    const bob = ev({ distinctId: 'bob', ...stamped, clampedFrom: '1970-01-02T00:00:00.000Z' });
    const result = await late(() =>
      b.insertEvents(p.id, [
        ev({ distinctId: 'alice', ...stamped, clampedFrom: '1970-01-02T00:00:00.000Z' }),
        bob,
        back,
      ]),
    );
    expect(result).toEqual({ accepted: 2, duplicates: 0, erased: 1 });
    const left = (await a.queryEvents({ projectId: p.id, limit: 10 })).map((e) => e.uuid).sort();
    expect(left).toEqual([bob.uuid, back.uuid].sort());
    // And at ingest, once the store knows of the erasure.
    expect(
      await a.insertEvents(p.id, [
        ev({ distinctId: 'alice', ...stamped, clampedFrom: '1970-01-02T00:00:00.000Z' }),
      ]),
    ).toEqual({ accepted: 0, duplicates: 0, erased: 1 });
  });
});
