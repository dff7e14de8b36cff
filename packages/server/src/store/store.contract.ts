import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from './errors.js';
import { projectsContract } from './store-projects.contract.js';
import type { IngestEvent, Project, Store, StoredEvent } from './store.js';

/** What one implementation gives the contract suite; a fresh, empty storage per call. */
export interface StoreHarness {
  /** A migrated store on the fresh storage. */
  store: Store;
  /** Another migrated store (own connection or pool) on the same storage. */
  openAnother(): Promise<Store>;
  /** Makes storage fail any write of an event named `poison`; resolves a function undoing it. */
  injectPoisonFault(): Promise<() => Promise<void>>;
  /** Closes whatever the harness opened and removes the storage. */
  dispose(): Promise<void>;
}

const T0 = Date.parse('2026-01-01T00:00:00.000Z');

export function ev(over: Partial<IngestEvent> = {}): IngestEvent {
  const ts = over.timestamp ?? new Date(T0).toISOString();
  return {
    uuid: randomUUID(),
    event: 'page_view',
    distinctId: 'user-1',
    timestamp: ts,
    originalTimestamp: ts,
    receivedAt: new Date(T0).toISOString(),
    properties: { path: '/home' },
    ...over,
  };
}

async function all(store: Store, projectId: string): Promise<StoredEvent[]> {
  return store.queryEvents({ projectId, limit: 1000 });
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Registers the behaviour every Store must have, against `makeHarness`. */
export function describeStoreContract(name: string, makeHarness: () => Promise<StoreHarness>): void {
  describe(`Store contract: ${name}`, () => {
    let h: StoreHarness;
    let store: Store;
    let project: Project;
    const others: Store[] = [];

    beforeEach(async () => {
      h = await makeHarness();
      store = h.store;
      project = await store.createProject('contract');
    });
    afterEach(async () => {
      for (const s of others.splice(0)) await s.close().catch(() => {});
      await h.dispose();
    });

    async function another(): Promise<Store> {
      const s = await h.openAnother();
      others.push(s);
      return s;
    }

    projectsContract({ store: () => store, project: () => project, another, ev });

    it('stores an event once per (project, uuid) across batches and counts the rest as duplicates', async () => {
      const batch = Array.from({ length: 10 }, (_, i) => ev({ properties: { i } }));
      expect(await store.insertEvents(project.id, batch)).toEqual({ accepted: 10, duplicates: 0, erased: 0 });
      const again = [...batch.slice(5), ev()];
      expect(await store.insertEvents(project.id, again)).toEqual({ accepted: 1, duplicates: 5, erased: 0 });
      const stored = await all(store, project.id);
      expect(stored).toHaveLength(11);
      expect(new Set(stored.map((e) => e.uuid)).size).toBe(11);
    });

    it('dedups within one batch, uuids compared case-insensitively, non-UUID ids as given', async () => {
      const a = ev();
      const b = ev({ uuid: 'ajs-next-1700000000000-segment-message' });
      const c = ev({ uuid: '0000000g-0000-4000-8000-00000000000z' });
      const batch = [
        a,
        { ...a, properties: { other: true } },
        ev({ uuid: a.uuid.toUpperCase() }),
        b,
        { ...b },
        c,
      ];
      expect(await store.insertEvents(project.id, batch)).toEqual({ accepted: 3, duplicates: 3, erased: 0 });
      const stored = await all(store, project.id);
      expect(stored.map((e) => e.uuid).sort()).toEqual([a.uuid, b.uuid, c.uuid].sort());
      expect(stored.find((e) => e.uuid === a.uuid)!.properties).toEqual(a.properties);
    });

    it('counts concurrent calls in flight at once exactly', async () => {
      const shared = Array.from({ length: 50 }, () => ev());
      const results = await Promise.all(
        Array.from({ length: 8 }, () => store.insertEvents(project.id, [...shared, ev()])),
      );
      expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(58);
      expect(results.reduce((n, r) => n + r.duplicates, 0)).toBe(7 * 50);
      expect(await all(store, project.id)).toHaveLength(58);
    });

    it('two stores writing overlapping batches at once store each event once and count exactly', async () => {
      const second = await another();
      const pool = Array.from({ length: 600 }, (_, i) => ev({ distinctId: `u${i % 7}` }));
      const batches = (offset: number): IngestEvent[][] =>
        Array.from({ length: 10 }, (_, b) =>
          pool.slice((offset + b * 50) % 600, ((offset + b * 50) % 600) + 100),
        );
      const [r1, r2] = await Promise.all([
        Promise.all(batches(0).map((b) => store.insertEvents(project.id, b))),
        Promise.all(batches(25).map((b) => second.insertEvents(project.id, b))),
      ]);
      const results = [...r1, ...r2];
      const sent = new Set([...batches(0), ...batches(25)].flat().map((e) => e.uuid));
      const total = [...batches(0), ...batches(25)].flat().length;
      expect(results.reduce((n, r) => n + r.accepted, 0)).toBe(sent.size);
      expect(results.reduce((n, r) => n + r.accepted + r.duplicates, 0)).toBe(total);
      const stored = await all(store, project.id);
      expect(stored).toHaveLength(sent.size);
      expect(await all(second, project.id)).toHaveLength(sent.size);
    });

    it('a storage failure mid-batch rejects the batch and stores none of it, and spares batches alongside', async () => {
      const undo = await h.injectPoisonFault();
      const bad = [ev(), ev(), ev({ event: 'poison' }), ev()];
      const good = [ev(), ev()];
      const [badResult, goodResult] = await Promise.allSettled([
        store.insertEvents(project.id, bad),
        store.insertEvents(project.id, good),
      ]);
      expect(badResult.status).toBe('rejected');
      expect((badResult as PromiseRejectedResult).reason).toBeInstanceOf(StoreError);
      expect(goodResult).toEqual({ status: 'fulfilled', value: { accepted: 2, duplicates: 0, erased: 0 } });
      await undo();
      const stored = await all(store, project.id);
      expect(stored.map((e) => e.uuid).sort()).toEqual(good.map((e) => e.uuid).sort());
      // Nothing of the refused batch counts as stored: resending it stores all of it.
      expect(await store.insertEvents(project.id, bad)).toEqual({ accepted: 4, duplicates: 0, erased: 0 });
    });

    it('the same uuid in two projects is two events', async () => {
      const other = await store.createProject('other');
      const e = ev();
      expect(await store.insertEvents(project.id, [e])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      expect(await store.insertEvents(other.id, [e])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      expect(await all(store, project.id)).toHaveLength(1);
      expect(await all(store, other.id)).toHaveLength(1);
    });

    it('queries by event, person, time range and limit, newest first', async () => {
      const at = (min: number): string => new Date(T0 + min * 60_000).toISOString();
      const events = Array.from({ length: 30 }, (_, i) =>
        ev({ event: i % 3 === 0 ? 'signup' : 'page_view', distinctId: `u${i % 5}`, timestamp: at(i) }),
      );
      await store.insertEvents(project.id, events);
      const signups = await store.queryEvents({ projectId: project.id, event: 'signup', limit: 1000 });
      expect(signups).toHaveLength(10);
      expect(signups.every((e) => e.event === 'signup' && e.projectId === project.id)).toBe(true);
      const u1 = await store.queryEvents({ projectId: project.id, distinctId: 'u1', limit: 1000 });
      expect(u1.map((e) => e.timestamp)).toEqual([26, 21, 16, 11, 6, 1].map(at));
      const range = await store.queryEvents({
        projectId: project.id,
        since: at(10),
        until: at(20),
        limit: 1000,
      });
      expect(range.map((e) => e.timestamp)).toEqual(Array.from({ length: 10 }, (_, i) => at(19 - i)));
      const limited = await store.queryEvents({ projectId: project.id, limit: 4 });
      expect(limited.map((e) => e.timestamp)).toEqual([29, 28, 27, 26].map(at));
      const both = await store.queryEvents({
        projectId: project.id,
        event: 'signup',
        distinctId: 'u0',
        limit: 1000,
      });
      expect(both.map((e) => e.timestamp)).toEqual([15, 0].map(at));
      expect(await store.queryEvents({ projectId: 'no-such-project', limit: 10 })).toEqual([]);
      await expect(store.queryEvents({ projectId: project.id, limit: 0 })).rejects.toMatchObject({
        kind: 'invalid-input',
      });
      await expect(store.queryEvents({ projectId: project.id, limit: 1001 })).rejects.toMatchObject({
        kind: 'invalid-input',
      });
      await expect(
        store.queryEvents({ projectId: project.id, since: 'yesterday', limit: 5 }),
      ).rejects.toMatchObject({
        kind: 'invalid-input',
      });
    });

    it('returns what was stored, field for field', async () => {
      const e = ev({ originalTimestamp: null, properties: { nested: { a: [1, 'two', null] }, n: 1.5 } });
      await store.insertEvents(project.id, [e]);
      expect(await all(store, project.id)).toEqual([
        { ...e, projectId: project.id, seq: expect.any(Number) as number },
      ]);
    });

    it('pages by (timestamp, seq) with before: 1 200 events of one millisecond, each exactly once', async () => {
      const ts = new Date(T0).toISOString();
      const n = 1200;
      // Two batches, and a later event in between, so seq order is not just one batch's order.
      const events = Array.from({ length: n }, (_, i) => ev({ timestamp: ts, properties: { i } }));
      await store.insertEvents(project.id, events.slice(0, 700));
      await store.insertEvents(project.id, [ev({ timestamp: new Date(T0 + 1).toISOString() })]);
      await store.insertEvents(project.id, events.slice(700));
      await store.insertEvents(project.id, [ev({ timestamp: new Date(T0 - 1).toISOString() })]);
      const seen: StoredEvent[] = [];
      let before: { tsMs: number; seq: number } | undefined;
      for (let page = 0; page < 20; page++) {
        const rows = await store.queryEvents({
          projectId: project.id,
          since: ts,
          until: new Date(T0 + 1).toISOString(),
          before,
          limit: 100,
        });
        seen.push(...rows);
        if (rows.length < 100) break;
        const last = rows[rows.length - 1]!;
        before = { tsMs: Date.parse(last.timestamp), seq: last.seq };
      }
      expect(seen).toHaveLength(n);
      expect(new Set(seen.map((e) => e.uuid)).size).toBe(n);
      expect(seen.every((e) => e.timestamp === ts)).toBe(true);
      // Newest first: within the millisecond, the later stored first.
      const seqs = seen.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
      // The newest event of a millisecond comes right after every event of a later one.
      const first = seen[0]!;
      const after = await store.queryEvents({
        projectId: project.id,
        before: { tsMs: T0, seq: Number.MAX_SAFE_INTEGER },
        limit: 1,
      });
      expect(after.map((e) => e.uuid)).toEqual([first.uuid]);
      await expect(
        store.queryEvents({ projectId: project.id, before: { tsMs: 1.5, seq: 1 }, limit: 5 }),
      ).rejects.toMatchObject({ kind: 'invalid-input' });
    });

    it('stops a page of large events at PAGE_PROPERTIES_CHARS, says so, and pages on; an export too', async () => {
      // 12 events of 900 000 characters: 10 reach the bound (the one reaching it included).
      const big = 'x'.repeat(900_000);
      const events = Array.from({ length: 12 }, (_, i) =>
        ev({ distinctId: 'big', timestamp: new Date(T0 + i).toISOString(), properties: { i, big } }),
      );
      for (const e of events) await store.insertEvents(project.id, [e]);
      let cuts = 0;
      const first = await store.queryEvents({ projectId: project.id, limit: 100, onCut: () => cuts++ });
      expect(first.map((e) => e.properties['i'])).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
      expect(cuts).toBe(1);
      const last = first[first.length - 1]!;
      const rest = await store.queryEvents({
        projectId: project.id,
        distinctId: 'big',
        before: { tsMs: Date.parse(last.timestamp), seq: last.seq },
        limit: 100,
        onCut: () => cuts++,
      });
      expect(rest.map((e) => e.properties['i'])).toEqual([1, 0]);
      expect(cuts).toBe(1);
      // Filtered by name and person (SQLite reads such a page in windows of the person's index).
      let windowCuts = 0;
      const windowed = await store.queryEvents({
        projectId: project.id,
        event: 'page_view',
        distinctId: 'big',
        limit: 100,
        onCut: () => windowCuts++,
      });
      expect(windowed.map((e) => e.properties['i'])).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
      expect(windowCuts).toBe(1);
      // Cut by `limit` first: no call.
      expect(await store.queryEvents({ projectId: project.id, limit: 3, onCut: () => cuts++ })).toHaveLength(
        3,
      );
      expect(cuts).toBe(1);
      const exported = await collect(store.personEvents(project.id, 'big'));
      expect(exported.map((e) => e.properties['i'])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(exported.every((e) => e.properties['big'] === big)).toBe(true);
    });

    it('streams one person’s events oldest first across pages', async () => {
      const n = 1234;
      for (let i = 0; i < n; i += 100) {
        const batch = Array.from({ length: Math.min(100, n - i) }, (_, j) =>
          ev({
            distinctId: 'exported',
            timestamp: new Date(T0 + (i + j) * 1000).toISOString(),
            properties: { k: i + j },
          }),
        );
        await store.insertEvents(project.id, batch);
      }
      await store.insertEvents(project.id, [ev({ distinctId: 'someone-else' })]);
      const out = await collect(store.personEvents(project.id, 'exported'));
      expect(out.map((e) => e.properties.k)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(await collect(store.personEvents(project.id, 'nobody'))).toEqual([]);
    });

    it('erases one person and logs who, when and how many, not the data', async () => {
      await store.insertEvents(project.id, [
        ev({ distinctId: 'alice', properties: { email: 'alice@example.com' } }),
        ev({ distinctId: 'alice' }),
        ev({ distinctId: 'bob' }),
      ]);
      expect(await store.erasePerson(project.id, 'alice', 'admin-key')).toBe(2);
      expect(await collect(store.personEvents(project.id, 'alice'))).toEqual([]);
      expect((await all(store, project.id)).map((e) => e.distinctId)).toEqual(['bob']);
      expect(await store.erasePerson(project.id, 'alice', 'admin-key')).toBe(0);
      await expect(store.erasePerson('no-such-project', 'alice', 'admin-key')).rejects.toMatchObject({
        kind: 'unknown-project',
      });
      const log = await store.listErasures({ projectId: project.id, limit: 100 });
      expect(log).toHaveLength(2);
      expect(Object.keys(log[1]!).sort()).toEqual([
        'deletedCount',
        'distinctId',
        'erasedAt',
        'projectId',
        'requestedBy',
        'seq',
      ]);
      // Newest first.
      expect(log[0]).toMatchObject({ distinctId: 'alice', deletedCount: 0 });
      expect(log[1]).toMatchObject({
        projectId: project.id,
        distinctId: 'alice',
        requestedBy: 'admin-key',
        deletedCount: 2,
      });
      expect(JSON.stringify(log)).not.toContain('alice@example.com');
      expect(Number.isFinite(Date.parse(log[0]!.erasedAt))).toBe(true);
    });

    it('refuses a NUL or a lone surrogate in a query filter or an erasure, before anything is written', async () => {
      const at = new Date(T0).toISOString();
      await store.insertEvents(project.id, [ev({ distinctId: 'u', timestamp: at })]);
      for (const bad of ['a\u0000b', 'a\ud800b', '\udc00']) {
        await expect(
          store.queryEvents({ projectId: project.id, distinctId: bad, limit: 5 }),
        ).rejects.toMatchObject({ kind: 'invalid-input' });
        await expect(
          store.queryEvents({ projectId: project.id, event: bad, limit: 5 }),
        ).rejects.toMatchObject({
          kind: 'invalid-input',
        });
        await expect(store.erasePerson(project.id, bad, 'admin')).rejects.toMatchObject({
          kind: 'invalid-input',
        });
        await expect(store.erasePerson(project.id, 'u', bad)).rejects.toMatchObject({
          kind: 'invalid-input',
        });
      }
      // Nothing logged, nothing deleted, and no suppression entry: u's events are still taken.
      expect(await store.listErasures({ projectId: project.id, limit: 10 })).toEqual([]);
      expect(await store.queryEvents({ projectId: project.id, distinctId: 'u', limit: 5 })).toHaveLength(1);
      expect(await store.insertEvents(project.id, [ev({ distinctId: 'u', timestamp: at })])).toEqual({
        accepted: 1,
        duplicates: 0,
        erased: 0,
      });
    });

    it('pages through the erasure log newest first, each entry once, one project only', async () => {
      const other = await store.createProject('other');
      const second = await another();
      const erased: string[] = [];
      for (let i = 0; i < 7; i++) {
        // Two stores write the one log: seq orders entries across connections too.
        await (i % 2 === 0 ? store : second).erasePerson(project.id, `p${i}`, 'admin');
        erased.push(`p${i}`);
        if (i === 3) await store.erasePerson(other.id, 'foreign', 'admin');
      }
      const pages: string[][] = [];
      let beforeSeq: number | undefined;
      for (;;) {
        const page = await store.listErasures({ projectId: project.id, limit: 3, beforeSeq });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(3);
        const seqs = page.map((e) => e.seq);
        expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
        if (beforeSeq !== undefined) expect(Math.max(...seqs)).toBeLessThan(beforeSeq);
        pages.push(page.map((e) => e.distinctId));
        beforeSeq = page[page.length - 1]!.seq;
      }
      expect(pages).toEqual([['p6', 'p5', 'p4'], ['p3', 'p2', 'p1'], ['p0']]);
      expect(
        (await second.listErasures({ projectId: project.id, limit: 100 })).map((e) => e.distinctId),
      ).toEqual([...erased].reverse());
      expect(await store.listErasures({ projectId: other.id, limit: 100 })).toMatchObject([
        { distinctId: 'foreign', projectId: other.id },
      ]);
      expect(await store.listErasures({ projectId: 'no-such-project', limit: 10 })).toEqual([]);
      for (const bad of [
        { limit: 0 },
        { limit: 1.5 },
        { limit: 100_001 },
        { limit: 10, beforeSeq: 0 },
        { limit: 10, beforeSeq: -3 },
        { limit: 10, beforeSeq: 2.5 },
        { limit: 10, beforeSeq: 'x' as unknown as number },
      ]) {
        await expect(store.listErasures({ projectId: project.id, ...bad })).rejects.toMatchObject({
          kind: 'invalid-input',
        });
      }
    });

    describe('erasure sticks: late events of an erased person', () => {
      const at = (ms: number): string => new Date(ms).toISOString();
      /** An event of `who` at `ms`, timestamped as the server stores it (skew-corrected). */
      const of = (who: string, ms: number, over: Partial<IngestEvent> = {}): IngestEvent =>
        ev({ distinctId: who, timestamp: at(ms), originalTimestamp: at(ms), ...over });
      const person = async (s: Store, projectId: string, who: string): Promise<StoredEvent[]> =>
        collect(s.personEvents(projectId, who));

      it('does not store the person’s events from before the erasure, counts them, and stores later ones', async () => {
        await store.insertEvents(project.id, [of('alice', T0), of('bob', T0)]);
        const before = Date.now();
        expect(await store.erasePerson(project.id, 'alice', 'admin')).toBe(1);
        const after = Date.now();
        // An outbox delivering after the erasure: an old event, one from just before the request,
        // another person's, and one from after the erasure (the person came back).
        const late = [
          of('alice', T0 - 1000),
          of('alice', before - 1),
          of('bob', T0 + 1),
          of('alice', after + 60_000),
        ];
        expect(await store.insertEvents(project.id, late)).toEqual({ accepted: 2, duplicates: 0, erased: 2 });
        expect((await person(store, project.id, 'alice')).map((e) => e.uuid)).toEqual([late[3]!.uuid]);
        expect(await person(store, project.id, 'bob')).toHaveLength(2);
        // Nothing of the person kept in the clear beyond the log entry the erasure always wrote.
        const log = await store.listErasures({ projectId: project.id, limit: 10 });
        expect(log.map((e) => e.distinctId)).toEqual(['alice']);
      });

      it('an event timestamped exactly at the erasure time is not stored', async () => {
        await store.erasePerson(project.id, 'alice', 'admin');
        const [entry] = await store.listErasures({ projectId: project.id, limit: 1 });
        const erasedAt = Date.parse(entry!.erasedAt);
        const r = await store.insertEvents(project.id, [of('alice', erasedAt), of('alice', erasedAt + 1)]);
        expect(r).toEqual({ accepted: 1, duplicates: 0, erased: 1 });
      });

      it('leaves other projects and other persons alone, and counts duplicates of the rest exactly', async () => {
        const other = await store.createProject('other');
        await store.erasePerson(project.id, 'alice', 'admin');
        const theirs = of('alice', T0);
        expect(await store.insertEvents(other.id, [theirs])).toEqual({
          accepted: 1,
          duplicates: 0,
          erased: 0,
        });
        const bob = of('bob', T0);
        const old = of('alice', T0);
        expect(await store.insertEvents(project.id, [bob, old, bob, old])).toEqual({
          accepted: 1,
          duplicates: 1,
          erased: 2,
        });
        expect(await store.insertEvents(project.id, [bob, old])).toEqual({
          accepted: 0,
          duplicates: 1,
          erased: 1,
        });
        expect(await person(store, other.id, 'alice')).toHaveLength(1);
        expect(await person(store, project.id, 'alice')).toHaveLength(0);
      });

      it('an event stored before the erasure and sent again after it is erased, not a duplicate', async () => {
        const e = of('alice', T0);
        expect(await store.insertEvents(project.id, [e])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
        await store.erasePerson(project.id, 'alice', 'admin');
        expect(await store.insertEvents(project.id, [e])).toEqual({ accepted: 0, duplicates: 0, erased: 1 });
        expect(await person(store, project.id, 'alice')).toHaveLength(0);
      });

      describe('a resend whose timestamp lands after the erasure (erased by its key)', () => {
        const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
        /** As the server stores an event sent without a timestamp: stamped with its receipt. */
        const unstamped = (e: IngestEvent): IngestEvent => {
          const now = new Date().toISOString();
          return { ...e, timestamp: now, originalTimestamp: null, receivedAt: now };
        };
        /** Sent by a client whose clock is 2 h ahead, without sent_at: kept as sent. */
        const ahead = (): IngestEvent => {
          const ts = new Date(Date.now() + 2 * 3_600_000).toISOString();
          return ev({
            distinctId: 'alice',
            timestamp: ts,
            originalTimestamp: ts,
            receivedAt: new Date().toISOString(),
          });
        };
        const resent = (e: IngestEvent): IngestEvent => ({ ...e, receivedAt: new Date().toISOString() });
        /** Stores alice's `e`, then erases her, a few ms apart (the times differ). */
        const storeThenErase = async (e: IngestEvent) => {
          expect(await store.insertEvents(project.id, [e])).toEqual({
            accepted: 1,
            duplicates: 0,
            erased: 0,
          });
          await pause(5);
          expect(await store.erasePerson(project.id, 'alice', 'admin')).toBe(1);
          await pause(5);
        };

        it('an event sent without a timestamp, erased, then sent again is erased; a new one of the person is stored', async () => {
          const e = unstamped(ev({ distinctId: 'alice' }));
          await storeThenErase(e);
          // Stamped again on receipt, so after the erasure time; twice in one batch, as a
          // suppressed event is; beside a new event of the person (she came back).
          const back = unstamped(ev({ distinctId: 'alice' }));
          expect(await store.insertEvents(project.id, [unstamped(e), unstamped(e), back])).toEqual({
            accepted: 1,
            duplicates: 0,
            erased: 2,
          });
          expect((await person(store, project.id, 'alice')).map((x) => x.uuid)).toEqual([back.uuid]);
          // The new event is stored once, and counts as a duplicate when sent again.
          expect(await store.insertEvents(project.id, [back, unstamped(e)])).toEqual({
            accepted: 0,
            duplicates: 1,
            erased: 1,
          });
        });

        it('a retention run past the erasure keeps the kept keys: a resend stamped on receipt stays erased', async () => {
          const e = unstamped(ev({ distinctId: 'alice' }));
          await storeThenErase(e);
          const [entry] = await store.listErasures({ projectId: project.id, limit: 1 });
          // Stamped on receipt, the resend is new whenever it comes: retention never ages it out.
          const cutoff = new Date(Date.parse(entry!.erasedAt) + 1).toISOString();
          expect(await store.deleteEventsBefore(cutoff, 1000)).toBe(0);
          expect(await store.insertEvents(project.id, [unstamped(e)])).toEqual({
            accepted: 0,
            duplicates: 0,
            erased: 1,
          });
          expect(await person(store, project.id, 'alice')).toEqual([]);
        });

        it('an event timestamped ahead, erased because it was received before, stays erased when sent again', async () => {
          const e = ahead();
          await storeThenErase(e);
          const [entry] = await store.listErasures({ projectId: project.id, limit: 1 });
          expect(Date.parse(e.timestamp)).toBeGreaterThan(Date.parse(entry!.erasedAt));
          expect(await store.insertEvents(project.id, [resent(e)])).toEqual({
            accepted: 0,
            duplicates: 0,
            erased: 1,
          });
          expect(await person(store, project.id, 'alice')).toEqual([]);
        });

        it('the erased keys survive a restart and are shared by every store on the storage', async () => {
          const e1 = unstamped(ev({ distinctId: 'alice' }));
          const e2 = ahead();
          const bob = unstamped(ev({ distinctId: 'bob' }));
          await store.insertEvents(project.id, [e1, e2, bob]);
          await pause(5);
          expect(await store.erasePerson(project.id, 'alice', 'admin')).toBe(2);
          // Another store on the same storage erases bob; the first one knows the project has
          // erased persons (its own erasure), and finds the other's keys.
          const second = await another();
          expect(await second.erasePerson(project.id, 'bob', 'admin')).toBe(1);
          await pause(5);
          expect(await second.insertEvents(project.id, [unstamped(e1), resent(e2)])).toEqual({
            accepted: 0,
            duplicates: 0,
            erased: 2,
          });
          expect(await store.insertEvents(project.id, [unstamped(bob)])).toEqual({
            accepted: 0,
            duplicates: 0,
            erased: 1,
          });
          await store.close();
          await second.close();
          const reopened = await another();
          expect(
            await reopened.insertEvents(project.id, [unstamped(e1), resent(e2), unstamped(bob)]),
          ).toEqual({
            accepted: 0,
            duplicates: 0,
            erased: 3,
          });
          expect(await person(reopened, project.id, 'alice')).toEqual([]);
          expect(await person(reopened, project.id, 'bob')).toEqual([]);
        });
      });

      it('holds across a restart and for another store on the same storage', async () => {
        await store.erasePerson(project.id, 'alice', 'admin');
        await store.close();
        const reopened = await another();
        expect(await reopened.insertEvents(project.id, [of('alice', T0), of('bob', T0)])).toEqual({
          accepted: 1,
          duplicates: 0,
          erased: 1,
        });
        expect(await person(reopened, project.id, 'alice')).toHaveLength(0);
      });

      it('erasing again moves the erasure time forward; unicode and 1000-character ids alike', async () => {
        const ids = ['ünï-cødé 👤', 'x'.repeat(1000)];
        for (const who of ids) await store.erasePerson(project.id, who, 'admin');
        const r = await store.insertEvents(project.id, [
          ...ids.map((who) => of(who, T0)),
          of('ünï-cødé', T0),
        ]);
        expect(r).toEqual({ accepted: 1, duplicates: 0, erased: 2 });
        const soon = Date.now() + 1;
        await store.erasePerson(project.id, ids[0]!, 'admin');
        const [entry] = await store.listErasures({ projectId: project.id, limit: 1 });
        expect(Date.parse(entry!.erasedAt)).toBeGreaterThanOrEqual(soon - 1);
        expect(
          await store.insertEvents(project.id, [of(ids[0]!, Date.parse(entry!.erasedAt))]),
        ).toMatchObject({
          erased: 1,
        });
      });

      it('inserts in flight while the person is erased leave nothing of them from before it', async () => {
        const batch = (): IngestEvent[] => [of('alice', T0), of('bob', T0)];
        const before = Array.from({ length: 10 }, () => store.insertEvents(project.id, batch()));
        const erasing = store.erasePerson(project.id, 'alice', 'admin');
        const during = Array.from({ length: 10 }, () => store.insertEvents(project.id, batch()));
        const results = await Promise.all([...before, ...during]);
        await erasing;
        expect(await person(store, project.id, 'alice')).toHaveLength(0);
        expect(await person(store, project.id, 'bob')).toHaveLength(20);
        // Each of alice's events was either stored then deleted by the erasure, or not stored.
        for (const r of results) expect(r.accepted + r.erased).toBe(2);
      });

      it('the person’s events timestamped after the erasure, stored while it runs or just after, stay', async () => {
        const old = of('alice', T0);
        await store.insertEvents(project.id, [old]);
        const erasing = store.erasePerson(project.id, 'alice', 'admin');
        // Sent in the same turn as the request: acknowledged before the deletion runs (a backlog
        // makes that wait long), timestamped after the erasure time. Received a second ahead: the
        // erasure takes its time after an await or two, which a loaded machine (CI) stretched past
        // a few ms, and the event then counted as received before it.
        const after = (): Partial<IngestEvent> => ({
          receivedAt: new Date(Date.now() + 1_000).toISOString(),
        });
        const cameBack = of('alice', Date.now() + 3_600_000, after());
        const during = store.insertEvents(project.id, [cameBack, of('alice', T0 + 1)]);
        const r = await during;
        expect(await erasing).toBeGreaterThanOrEqual(1);
        // The old one was either dropped at ingest or stored and then deleted.
        expect(r.accepted + r.erased).toBe(2);
        const justAfter = of('alice', Date.now() + 3_600_000, after());
        expect(await store.insertEvents(project.id, [justAfter, of('alice', T0 + 2)])).toEqual({
          accepted: 1,
          duplicates: 0,
          erased: 1,
        });
        const kept = (await person(store, project.id, 'alice')).map((e) => e.uuid).sort();
        expect(kept).toEqual([cameBack.uuid, justAfter.uuid].sort());
      });

      it('the person’s events received before the erasure are erased whatever their timestamp (a clock ahead)', async () => {
        const received = new Date().toISOString();
        const ahead = of('alice', Date.now() + 2 * 3_600_000, { receivedAt: received });
        const now = of('alice', Date.now(), { receivedAt: received });
        await store.insertEvents(project.id, [ahead, now, of('bob', Date.now() + 2 * 3_600_000)]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(await store.erasePerson(project.id, 'alice', 'admin')).toBe(2);
        expect(await person(store, project.id, 'alice')).toEqual([]);
        expect(await person(store, project.id, 'bob')).toHaveLength(1);
      });

      it('bad events still refuse the whole batch, erased person or not', async () => {
        await store.erasePerson(project.id, 'alice', 'admin');
        await expect(store.insertEvents(project.id, [of('alice', T0), of('', T0)])).rejects.toMatchObject({
          index: 1,
        });
        await expect(
          store.insertEvents(project.id, [of('alice', T0), of('y'.repeat(1001), T0)]),
        ).rejects.toMatchObject({ index: 1 });
      });
    });

    it('retention deletes old events in bounded batches and keeps newer ones', async () => {
      const old = Array.from({ length: 25 }, (_, i) =>
        ev({ timestamp: new Date(T0 - (i + 1) * 86_400_000).toISOString() }),
      );
      const fresh = Array.from({ length: 5 }, () => ev({ timestamp: new Date(T0 + 1000).toISOString() }));
      await store.insertEvents(project.id, [...old, ...fresh]);
      const cutoff = new Date(T0).toISOString();
      const rounds: number[] = [];
      for (;;) {
        const n = await store.deleteEventsBefore(cutoff, 10);
        expect(n).toBeLessThanOrEqual(10);
        if (n === 0) break;
        rounds.push(n);
      }
      expect(rounds).toEqual([10, 10, 5]);
      expect((await all(store, project.id)).map((e) => e.uuid).sort()).toEqual(
        fresh.map((e) => e.uuid).sort(),
      );
      await expect(store.deleteEventsBefore('not a date', 10)).rejects.toMatchObject({
        kind: 'invalid-input',
      });
      await expect(store.deleteEventsBefore(cutoff, 0)).rejects.toMatchObject({ kind: 'invalid-input' });
    });

    it('bounds finer than a millisecond mean exactly what they name; a cutoff is read strictly', async () => {
      const at = new Date(T0).toISOString();
      const stored = ev({ timestamp: at });
      await store.insertEvents(project.id, [stored]);
      const finer = '2026-01-01T00:00:00.0009Z';
      // The event at …00.000 is before …00.0009: since leaves it out, until takes it in.
      expect(await store.queryEvents({ projectId: project.id, since: finer, limit: 5 })).toEqual([]);
      expect(
        (
          await store.queryEvents({
            projectId: project.id,
            since: '2025-12-31T00:00:00Z',
            until: finer,
            limit: 5,
          })
        ).map((e) => e.uuid),
      ).toEqual([stored.uuid]);
      const buckets = async (from: string, to: string) =>
        (await store.stats({ projectId: project.id, from, to, intervalSeconds: 3600 })).buckets;
      expect((await buckets(finer, '2026-01-01T01:00:00Z'))[0]!.total).toBe(0);
      expect((await buckets('2025-12-31T23:00:00Z', finer)).reduce((n, b) => n + b.total, 0)).toBe(1);
      // Date.parse read '12' as 2001-12-01 and '2026-02-30' as March 2.
      for (const cutoff of ['12', 'hello 5', '2026-02-30', '2026-01-01T00:00:00.000Z junk']) {
        await expect(store.deleteEventsBefore(cutoff, 10)).rejects.toMatchObject({ kind: 'invalid-input' });
      }
      expect(await store.deleteEventsBefore(finer, 10)).toBe(1);
    });

    it('counts events per bucket and per event name, empty buckets included', async () => {
      const at = (min: number): string => new Date(T0 + min * 60_000).toISOString();
      await store.insertEvents(project.id, [
        ev({ timestamp: at(0), event: 'a' }),
        ev({ timestamp: at(5), event: 'b' }),
        ev({ timestamp: at(59), event: 'a' }),
        ev({ timestamp: at(130), event: 'a' }),
        ev({ timestamp: at(180), event: 'a' }),
      ]);
      const stats = await store.stats({
        projectId: project.id,
        from: at(0),
        to: at(180),
        intervalSeconds: 3600,
      });
      expect(stats).toEqual({
        buckets: [
          { start: at(0), total: 3, byEvent: { a: 2, b: 1 }, other: 0 },
          { start: at(60), total: 0, byEvent: {}, other: 0 },
          { start: at(120), total: 1, byEvent: { a: 1 }, other: 0 },
        ],
        otherNames: 0,
      });
      await expect(
        store.stats({ projectId: project.id, from: at(0), to: at(180), intervalSeconds: 0 }),
      ).rejects.toMatchObject({ kind: 'invalid-input' });
      await expect(
        store.stats({ projectId: project.id, from: at(0), to: at(10_000_000), intervalSeconds: 1 }),
      ).rejects.toMatchObject({ kind: 'invalid-input' });
    });

    it('names at most maxEvents event names in stats, those with the most events; the rest count as other', async () => {
      const at = (min: number): string => new Date(T0 + min * 60_000).toISOString();
      const emoji = '\u{1F600}';
      // [minute, name]: a 5, b 4, c 2 and d 2 (a tie: c comes first), U+FFFD 1 and an emoji 1 (a
      // tie in code point order, where U+FFFD comes first; in UTF-16 order the emoji would).
      const spec: [number, string][] = [
        [0, 'a'],
        [1, 'a'],
        [2, 'a'],
        [130, 'a'],
        [131, 'a'],
        [60, 'b'],
        [61, 'b'],
        [62, 'b'],
        [63, 'b'],
        [3, 'c'],
        [132, 'c'],
        [64, 'd'],
        [65, 'd'],
        [133, '\uFFFD'],
        [4, emoji],
      ];
      await store.insertEvents(
        project.id,
        spec.map(([min, event]) => ev({ timestamp: at(min), event })),
      );
      const stats = (maxEvents?: number) =>
        store.stats({ projectId: project.id, from: at(0), to: at(180), intervalSeconds: 3600, maxEvents });
      expect(await stats(3)).toEqual({
        buckets: [
          { start: at(0), total: 5, byEvent: { a: 3, c: 1 }, other: 1 },
          { start: at(60), total: 6, byEvent: { b: 4 }, other: 2 },
          { start: at(120), total: 4, byEvent: { a: 2, c: 1 }, other: 1 },
        ],
        otherNames: 3,
      });
      expect(await stats(5)).toEqual({
        buckets: [
          { start: at(0), total: 5, byEvent: { a: 3, c: 1 }, other: 1 },
          { start: at(60), total: 6, byEvent: { b: 4, d: 2 }, other: 0 },
          { start: at(120), total: 4, byEvent: { a: 2, c: 1, '\uFFFD': 1 }, other: 0 },
        ],
        otherNames: 1,
      });
      const all = await stats();
      expect(all.otherNames).toBe(0);
      expect(all.buckets.map((b) => b.other)).toEqual([0, 0, 0]);
      expect(all.buckets[0]!.byEvent).toEqual({ a: 3, c: 1, [emoji]: 1 });
      for (const bad of [0, 1001, 1.5]) {
        await expect(stats(bad)).rejects.toMatchObject({ kind: 'invalid-input' });
      }
    });

    it('finds projects by write key and admin key, and nothing by unknown or near-miss keys', async () => {
      expect(await store.findProjectByKey(project.writeKey)).toEqual({ project, role: 'write' });
      expect(await store.findProjectByKey(project.adminKey)).toEqual({ project, role: 'admin' });
      const nearMiss = project.writeKey.slice(0, -1) + (project.writeKey.endsWith('A') ? 'B' : 'A');
      for (const k of [nearMiss, 'hw_unknown', '', 'x'.repeat(100_000), project.writeKey + ' ']) {
        expect(await store.findProjectByKey(k)).toBeNull();
      }
      expect(await store.listProjects()).toContainEqual(project);
      expect(project.writeKey).not.toBe(project.adminKey);
      await expect(store.createProject('')).rejects.toMatchObject({ kind: 'invalid-input' });
    });

    it('refuses bad batches whole and stores nothing of them; keeps unicode and nulls intact', async () => {
      expect(await store.insertEvents(project.id, [])).toEqual({ accepted: 0, duplicates: 0, erased: 0 });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      const bads: unknown[][] = [
        [ev(), ev({ properties: { blob: 'x'.repeat(1_100_000) } })],
        [ev(), ev({ properties: cyclic })],
        [ev(), { ...ev(), event: null }],
        [ev(), ev({ timestamp: 'not a date' })],
        [ev(), ev({ distinctId: 'a\u0000b' })],
        [ev(), ev({ event: 'lone \ud800 surrogate' })],
        [ev(), ev({ properties: [1, 2] as unknown as Record<string, unknown> })],
        [ev(), null],
        [ev(), ev({ properties: { n: 10n } as unknown as Record<string, unknown> })],
      ];
      for (const batch of bads) {
        await expect(store.insertEvents(project.id, batch as IngestEvent[])).rejects.toMatchObject({
          kind: 'invalid-input',
        });
      }
      await expect(store.insertEvents('no-such-project', [ev()])).rejects.toMatchObject({
        kind: 'unknown-project',
      });
      expect(await all(store, project.id)).toEqual([]);
      const odd = ev({
        event: 'überprüfung 🚀 مرحبا',
        distinctId: '用户-𝒳',
        properties: { nul: 'a\u0000b', emoji: '👩‍👩‍👧', none: null, deep: { arr: [null, { z: '\u2028' }] } },
      });
      expect(await store.insertEvents(project.id, [odd])).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
      expect(await all(store, project.id)).toEqual([
        { ...odd, projectId: project.id, seq: expect.any(Number) as number },
      ]);
    });

    it('a store opened again on the same storage sees what was stored', async () => {
      const batch = Array.from({ length: 20 }, () => ev());
      await store.insertEvents(project.id, batch);
      await store.close();
      const again = await another();
      expect((await again.queryEvents({ projectId: project.id, limit: 1000 })).length).toBe(20);
      expect(await again.findProjectByKey(project.writeKey)).toEqual({ project, role: 'write' });
      expect(await again.insertEvents(project.id, batch)).toEqual({ accepted: 0, duplicates: 20, erased: 0 });
    });

    it('refuses calls after close with a typed error', async () => {
      await store.close();
      await expect(store.insertEvents(project.id, [ev()])).rejects.toMatchObject({ kind: 'closed' });
      await expect(store.queryEvents({ projectId: project.id, limit: 1 })).rejects.toMatchObject({
        kind: 'closed',
      });
      await store.close();
    });

    it('firstProjectOrCreate answers the first project and creates none while one exists', async () => {
      await store.createProject('second');
      const second = await another();
      const answers = await Promise.all([
        store.firstProjectOrCreate('default'),
        second.firstProjectOrCreate('default'),
      ]);
      expect(answers).toEqual([
        { project, created: false },
        { project, created: false },
      ]);
      expect((await store.listProjects()).map((p) => p.name)).toEqual(['contract', 'second']);
      await expect(store.firstProjectOrCreate('')).rejects.toMatchObject({ kind: 'invalid-input' });
    });

    it('migrate() is idempotent', async () => {
      await store.migrate();
      await store.migrate();
      expect(await store.listProjects()).toHaveLength(1);
    });
  });
}
