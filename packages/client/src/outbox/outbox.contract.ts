import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutboxError } from './errors.js';
import type { Outbox, OutboxBatch, OutboxDrop, OutboxLimits, OutboxRecord } from './outbox.js';

/**
 * The behaviour every `Outbox` must have, as Vitest tests. An implementation's test file calls
 * `describeOutboxContract('FileOutbox', factory)`. Browser-safe: no node modules here, the
 * factory supplies storage (and "open the same storage again" for persistent outboxes).
 */

export interface ContractOpenOptions {
  /** Limits to pass to the outbox; the rest stay at their defaults. */
  limits?: Partial<OutboxLimits>;
  /** The clock the outbox must use for retention and ages (ms since the epoch). */
  now?: () => number;
}

export interface OutboxUnderTest {
  outbox: Outbox;
  /**
   * Persistent outboxes only: close `outbox` (if not closed already) and open the same storage
   * again with the same options, answering the new outbox.
   */
  reopen?: () => Promise<Outbox>;
  /** Close whatever is open and delete the storage. */
  dispose(): Promise<void>;
}

export interface OutboxContractFactory {
  /** true when records and state survive `reopen`. */
  readonly persistent: boolean;
  /** A fresh, empty outbox on storage nobody else uses. */
  create(options: ContractOpenOptions): Promise<OutboxUnderTest>;
  /** fast-check runs of the model test (default 25; each run opens one storage). */
  readonly modelRuns?: number;
}

const DAY = 24 * 60 * 60 * 1000;

let seq = 0;
/** A record with a unique uuid, exactly `size` (>= 54) bytes of ASCII JSON and the given timestamp. */
export function makeRecord(size = 60, timestampMs = Date.now()): OutboxRecord {
  const uuid = `0190a0b0-0000-7000-8000-${(seq++).toString(16).padStart(12, '0')}`;
  const head = `{"uuid":"${uuid}","p":"`;
  const pad = size - head.length - 2;
  if (pad < 0) throw new RangeError(`makeRecord: size must be at least ${head.length + 2}`);
  return { uuid, json: `${head}${'x'.repeat(pad)}"}`, timestampMs };
}

export function makeRecords(n: number, size = 60, timestampMs = Date.now()): OutboxRecord[] {
  return Array.from({ length: n }, () => makeRecord(size, timestampMs));
}

const uuids = (records: readonly OutboxRecord[] | undefined): string[] => (records ?? []).map((r) => r.uuid);

/** Claims and acks until the outbox answers null; returns the uuids in claim order. */
export async function drain(outbox: Outbox, perClaim = 1000): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const batch = await outbox.claim(perClaim, Infinity);
    if (batch === null) return seen;
    seen.push(...uuids(batch.records));
    await outbox.ack(batch);
  }
}

function recordDrops(outbox: Outbox): { drops: OutboxDrop[]; total(reason: OutboxDrop['reason']): number } {
  const drops: OutboxDrop[] = [];
  outbox.onDrop((d) => drops.push(d));
  return {
    drops,
    total: (reason) => drops.filter((d) => d.reason === reason).reduce((n, d) => n + d.count, 0),
  };
}

const realPerformanceNow = performance.now.bind(performance);
let monotonicShift: { mockRestore(): void } | null = null;

/**
 * Moves `performance.now()` on by `ms` (until the test ends), as if that much time passed: the
 * outboxes age records by the wall clock only as far as the monotonic clock agrees.
 */
function passMonotonicTime(ms: number): void {
  monotonicShift?.mockRestore();
  monotonicShift = vi.spyOn(performance, 'now').mockImplementation(() => realPerformanceNow() + ms);
}

export function describeOutboxContract(name: string, factory: OutboxContractFactory): void {
  describe(`${name}: Outbox contract`, () => {
    let opened: OutboxUnderTest[] = [];
    afterEach(async () => {
      monotonicShift?.mockRestore();
      monotonicShift = null;
      const all = opened;
      opened = [];
      for (const o of all) await o.dispose();
    });
    async function open(options: ContractOpenOptions = {}): Promise<OutboxUnderTest> {
      const o = await factory.create(options);
      opened.push(o);
      return o;
    }

    describe('order and claims', () => {
      it('claims the oldest records in append order and removes them on ack', async () => {
        const { outbox } = await open();
        const records = makeRecords(5);
        outbox.append(records.slice(0, 2));
        outbox.append(records.slice(2));
        const first = await outbox.claim(3, Infinity);
        expect(uuids(first?.records)).toEqual(uuids(records.slice(0, 3)));
        expect(first?.records.map((r) => r.json)).toEqual(records.slice(0, 3).map((r) => r.json));
        expect(first?.records.map((r) => r.timestampMs)).toEqual(
          records.slice(0, 3).map((r) => r.timestampMs),
        );
        const second = await outbox.claim(10, Infinity);
        expect(uuids(second?.records)).toEqual(uuids(records.slice(3)));
        expect(await outbox.claim(10, Infinity)).toBeNull();
        await outbox.ack(first!);
        await outbox.ack(second!);
        expect(await outbox.claim(10, Infinity)).toBeNull();
        expect((await outbox.size()).events).toBe(0);
      });

      it('makes released records claimable again in their original order, whichever batch is released first', async () => {
        const { outbox } = await open();
        const records = makeRecords(6);
        outbox.append(records);
        const a = await outbox.claim(2, Infinity);
        const b = await outbox.claim(2, Infinity);
        await outbox.release(b!);
        await outbox.release(a!);
        const all = await outbox.claim(100, Infinity);
        expect(uuids(all?.records)).toEqual(uuids(records));
      });

      it('never hands the same record to two claims before ack or release', async () => {
        const { outbox } = await open();
        const records = makeRecords(20);
        outbox.append(records);
        const batches = (
          await Promise.all(Array.from({ length: 8 }, () => outbox.claim(3, Infinity)))
        ).filter((b): b is OutboxBatch => b !== null);
        const claimed = batches.flatMap((b) => uuids(b.records));
        expect(new Set(claimed).size).toBe(claimed.length);
        expect(claimed.length).toBe(20);
        expect(new Set(claimed)).toEqual(new Set(uuids(records)));
        expect(await outbox.claim(5, Infinity)).toBeNull();
        await outbox.release(batches[1]!);
        const again = await outbox.claim(100, Infinity);
        expect(uuids(again?.records)).toEqual(uuids(batches[1]!.records));
      });

      it('respects maxEvents and maxBytes, yet always answers at least one record', async () => {
        const { outbox } = await open();
        const small = makeRecords(4, 100);
        const big = makeRecord(5000);
        outbox.append([big, ...small]);
        const first = await outbox.claim(10, 50);
        expect(uuids(first?.records)).toEqual([big.uuid]);
        expect(first?.bytes).toBe(5000);
        const second = await outbox.claim(10, 250);
        expect(uuids(second?.records)).toEqual(uuids(small.slice(0, 2)));
        expect(second?.bytes).toBe(200);
        const third = await outbox.claim(1, Infinity);
        expect(uuids(third?.records)).toEqual([small[2]!.uuid]);
      });

      it('counts batch bytes as UTF-8', async () => {
        const { outbox } = await open();
        const rec: OutboxRecord = { uuid: 'utf8-record', json: '{"s":"é€😀"}', timestampMs: Date.now() };
        outbox.append([rec]);
        const batch = await outbox.claim(10, Infinity);
        expect(batch?.records[0]?.json).toBe(rec.json);
        expect(batch?.bytes).toBe(new TextEncoder().encode(rec.json).length);
      });

      it('rejects claim limits that are not positive numbers with a typed error', async () => {
        const { outbox } = await open();
        outbox.append(makeRecords(1));
        for (const [e, b] of [
          [0, 100],
          [Number.NaN, 100],
          [10, 0],
          [10, -1],
          ['10' as unknown as number, 100],
        ] as const) {
          const error = await outbox.claim(e, b).catch((err: unknown) => err);
          expect(error).toBeInstanceOf(OutboxError);
          expect((error as OutboxError).kind).toBe('invalid-option');
        }
        expect((await outbox.claim(1, 1))?.records.length).toBe(1);
      });
    });

    describe('limits', () => {
      it('drops the oldest when over maxEvents with drop-oldest, and counts it', async () => {
        const { outbox } = await open({ limits: { maxEvents: 3, overflow: 'drop-oldest' } });
        const drops = recordDrops(outbox);
        const records = makeRecords(5);
        outbox.append(records);
        await outbox.persist();
        expect(drops.total('overflow')).toBe(2);
        expect(await drain(outbox)).toEqual(uuids(records.slice(2)));
      });

      it('drops the newest when over maxEvents with drop-newest, and counts it', async () => {
        const { outbox } = await open({ limits: { maxEvents: 3, overflow: 'drop-newest' } });
        const drops = recordDrops(outbox);
        const records = makeRecords(5);
        outbox.append(records.slice(0, 2));
        outbox.append(records.slice(2));
        await outbox.persist();
        expect(drops.total('overflow')).toBe(2);
        expect(await drain(outbox)).toEqual(uuids(records.slice(0, 3)));
      });

      it('bounds bytes too, in both overflow modes', async () => {
        for (const overflow of ['drop-oldest', 'drop-newest'] as const) {
          const { outbox } = await open({ limits: { maxBytes: 250, overflow } });
          const drops = recordDrops(outbox);
          const records = makeRecords(4, 100);
          outbox.append(records);
          await outbox.persist();
          expect(drops.total('overflow')).toBe(2);
          const size = await outbox.size();
          expect(size.events).toBe(2);
          expect(size.bytes).toBe(200);
          const kept = overflow === 'drop-oldest' ? records.slice(2) : records.slice(0, 2);
          expect(await drain(outbox)).toEqual(uuids(kept));
        }
      });

      it('drops a single record larger than maxBytes as too-large and keeps the rest', async () => {
        const { outbox } = await open({ limits: { maxBytes: 1000 } });
        const drops = recordDrops(outbox);
        const ok = makeRecords(2, 100);
        outbox.append([ok[0]!, makeRecord(5000), ok[1]!]);
        await outbox.persist();
        expect(drops.total('too-large')).toBe(1);
        expect(drops.total('overflow')).toBe(0);
        expect(await drain(outbox)).toEqual(uuids(ok));
      });

      it('drops records older than the retention limit, counted, and keeps younger ones', async () => {
        let now = Date.parse('2026-01-10T00:00:00Z');
        const { outbox } = await open({ limits: { retentionMs: 7 * DAY }, now: () => now });
        const drops = recordDrops(outbox);
        const stale = makeRecords(2, 60, now - 8 * DAY);
        const young = makeRecords(3, 60, now - DAY);
        outbox.append([stale[0]!, young[0]!, stale[1]!, young[1]!]);
        await outbox.persist();
        expect(await drain(outbox)).toEqual(uuids(young.slice(0, 2)));
        expect(drops.total('retention')).toBe(2);

        // A record that ages past the limit while it waits is dropped too, never sent: the time
        // passes on the monotonic clock as well (a step of the wall clock alone does not age it).
        outbox.append([young[2]!]);
        await outbox.persist();
        now += 7 * DAY;
        passMonotonicTime(7 * DAY);
        expect(await outbox.claim(10, Infinity)).toBeNull();
        expect(drops.total('retention')).toBe(3);
        expect((await outbox.size()).events).toBe(0);
      });

      it('does not age records by a forward step of the clock that no time passed for (NTP after a stale boot)', async () => {
        let now = Date.parse('2020-01-01T00:00:00Z');
        const { outbox } = await open({ limits: { retentionMs: 7 * DAY }, now: () => now });
        const drops = recordDrops(outbox);
        const before = makeRecords(3, 60, now - DAY);
        outbox.append(before);
        await outbox.persist();
        // The clock is set right, years ahead, milliseconds later.
        now = Date.parse('2026-01-10T00:00:00Z');
        const after = makeRecords(1, 60, now);
        outbox.append(after);
        expect(await drain(outbox)).toEqual(uuids([...before, ...after]));
        expect(drops.total('retention')).toBe(0);
      });

      it('keeps everything with retentionMs 0', async () => {
        const now = Date.parse('2026-01-10T00:00:00Z');
        const { outbox } = await open({ limits: { retentionMs: 0 }, now: () => now });
        const old = makeRecords(2, 60, now - 400 * DAY);
        outbox.append(old);
        expect(await drain(outbox)).toEqual(uuids(old));
      });
    });

    describe('dead letters', () => {
      it('moves records of a claimed batch to the dead-letter store; lists, replays and purges them', async () => {
        const { outbox } = await open();
        const drops = recordDrops(outbox);
        const records = makeRecords(4);
        outbox.append(records);
        const batch = await outbox.claim(4, Infinity);
        // Answers how many it stored.
        expect(await outbox.deadLetter(batch!.records.slice(1, 3), 'HTTP 400: bad event')).toBe(2);
        await outbox.ack(batch!);
        expect(drops.total('dead-lettered')).toBe(2);
        expect(await outbox.claim(10, Infinity)).toBeNull();

        const listed = await outbox.listDeadLetters();
        expect(uuids(listed.map((d) => d.record))).toEqual(uuids(records.slice(1, 3)));
        expect(listed[0]?.record.json).toBe(records[1]!.json);
        expect(listed[0]?.reason).toBe('HTTP 400: bad event');
        expect(typeof listed[0]?.deadLetteredAtMs).toBe('number');
        expect((await outbox.listDeadLetters(1)).length).toBe(1);
        expect((await outbox.size()).deadLetters).toBe(2);

        expect(await outbox.replayDeadLetters([records[2]!.uuid])).toBe(1);
        expect(await drain(outbox)).toEqual([records[2]!.uuid]);
        expect(await outbox.purgeDeadLetters()).toBe(1);
        expect(await outbox.listDeadLetters()).toEqual([]);
        expect(await outbox.replayDeadLetters()).toBe(0);
      });

      it('replays all dead letters when given no uuids, and purges only the named ones', async () => {
        const { outbox } = await open();
        const records = makeRecords(3);
        outbox.append(records);
        const batch = await outbox.claim(3, Infinity);
        await outbox.deadLetter(batch!.records, 'rejected');
        await outbox.ack(batch!);
        expect(await outbox.purgeDeadLetters([records[0]!.uuid, 'no-such-uuid'])).toBe(1);
        expect(await outbox.replayDeadLetters()).toBe(2);
        expect(await drain(outbox)).toEqual(uuids(records.slice(1)));
      });

      it('keeps at most maxDeadLetters, dropping the oldest', async () => {
        const { outbox } = await open({ limits: { maxDeadLetters: 2 } });
        const records = makeRecords(3);
        outbox.append(records);
        for (let i = 0; i < 3; i++) {
          const batch = await outbox.claim(1, Infinity);
          await outbox.deadLetter(batch!.records, `reason ${i}`);
          await outbox.ack(batch!);
        }
        const listed = await outbox.listDeadLetters();
        expect(uuids(listed.map((d) => d.record))).toEqual(uuids(records.slice(1)));
        expect((await outbox.size()).deadLetters).toBe(2);
      });

      it('counts the dead letters discarded over maxDeadLetters as overflow', async () => {
        const { outbox } = await open({ limits: { maxDeadLetters: 2 } });
        const drops = recordDrops(outbox);
        const records = makeRecords(5);
        outbox.append(records);
        const batch = await outbox.claim(4, Infinity);
        await outbox.deadLetter(batch!.records, 'HTTP 400');
        await outbox.ack(batch!);
        const last = await outbox.claim(1, Infinity);
        await outbox.deadLetter(last!.records, 'HTTP 400');
        await outbox.ack(last!);
        expect(uuids((await outbox.listDeadLetters()).map((d) => d.record))).toEqual(uuids(records.slice(3)));
        expect(drops.total('dead-lettered')).toBe(5);
        expect(drops.total('overflow')).toBe(3);
      });

      it('replays a dead letter older than retention: queued with the replay time, its JSON unchanged', async () => {
        let now = Date.parse('2026-01-10T00:00:00Z');
        const { outbox } = await open({ limits: { retentionMs: 7 * DAY }, now: () => now });
        const drops = recordDrops(outbox);
        const records = makeRecords(2, 60, now);
        outbox.append(records);
        const batch = await outbox.claim(2, Infinity);
        await outbox.deadLetter(batch!.records, 'HTTP 400');
        await outbox.ack(batch!);
        now += 8 * DAY;
        expect(await outbox.replayDeadLetters()).toBe(2);
        expect(await outbox.listDeadLetters()).toEqual([]);
        expect(await outbox.size()).toMatchObject({ events: 2, oldestTimestampMs: now, deadLetters: 0 });
        const again = await outbox.claim(10, Infinity);
        expect(again?.records.map((r) => r.json)).toEqual(records.map((r) => r.json));
        expect(again?.records.map((r) => r.timestampMs)).toEqual([now, now]);
        expect(drops.total('retention')).toBe(0);
      });

      it('drops (consent) instead of dead-lettering the records a clear() took while they were in flight', async () => {
        // A dead letter can be replayed later (`homing dead-letters --replay`): one kept after
        // consent was withdrawn would be sent after all.
        const o = await open();
        const { outbox } = o;
        const drops = recordDrops(outbox);
        const records = makeRecords(3);
        outbox.append(records);
        const batch = await outbox.claim(2, Infinity);
        expect(await outbox.clear()).toBe(1);
        // None stored: what the delivery reports as dead letters (BatchSender) is this count.
        expect(await outbox.deadLetter(batch!.records.slice(0, 1), 'HTTP 400')).toBe(0);
        await outbox.ack(batch!);
        expect(await outbox.listDeadLetters()).toEqual([]);
        expect((await outbox.size()).deadLetters).toBe(0);
        expect(drops.total('dead-lettered')).toBe(0);
        expect(drops.total('consent')).toBe(2);
        // Claimed after the clear: a dead letter as ever.
        const later = makeRecords(1);
        outbox.append(later);
        const next = await outbox.claim(1, Infinity);
        expect(await outbox.deadLetter(next!.records, 'HTTP 400')).toBe(1);
        await outbox.ack(next!);
        expect(uuids((await outbox.listDeadLetters()).map((d) => d.record))).toEqual(uuids(later));
        expect(drops.total('dead-lettered')).toBe(1);
        if (o.reopen !== undefined) {
          const reopened = await o.reopen();
          expect(uuids((await reopened.listDeadLetters()).map((d) => d.record))).toEqual(uuids(later));
          expect(await reopened.replayDeadLetters()).toBe(1);
          expect(await drain(reopened)).toEqual(uuids(later));
        }
      });

      it('keeps as a dead letter what the queue does not take on replay (full, drop-newest)', async () => {
        const { outbox } = await open({ limits: { maxEvents: 1, overflow: 'drop-newest' } });
        const drops = recordDrops(outbox);
        const [refused, queued] = makeRecords(2);
        outbox.append([refused!]);
        const batch = await outbox.claim(1, Infinity);
        await outbox.deadLetter(batch!.records, 'HTTP 400');
        await outbox.ack(batch!);
        outbox.append([queued!]);
        await outbox.persist();
        expect(await outbox.replayDeadLetters()).toBe(0);
        expect(uuids((await outbox.listDeadLetters()).map((d) => d.record))).toEqual([refused!.uuid]);
        expect(await drain(outbox)).toEqual([queued!.uuid]);
        expect(drops.total('overflow')).toBe(0);
      });
    });

    describe('clear, size, state, close', () => {
      it('clear() drops every pending record with reason consent, and in-flight ones when they are released', async () => {
        const { outbox } = await open();
        const drops = recordDrops(outbox);
        outbox.append(makeRecords(5));
        const inFlight = await outbox.claim(1, Infinity);
        expect(await outbox.clear()).toBe(4);
        expect(drops.total('consent')).toBe(4);
        await outbox.release(inFlight!);
        expect(drops.total('consent')).toBe(5);
        expect(await outbox.claim(10, Infinity)).toBeNull();
        expect((await outbox.size()).events).toBe(0);
        const later = makeRecords(2);
        outbox.append(later);
        expect(await drain(outbox)).toEqual(uuids(later));
      });

      it('a batch claimed before clear() and never settled is dropped (consent) at close, not handed out again after reopen', async () => {
        // A close (a shutdown cut short, a page closed) forgets the claim: what the clear took
        // must not come back with it and be sent by the next run.
        const o = await open();
        const drops = recordDrops(o.outbox);
        const records = makeRecords(3);
        o.outbox.append(records);
        const inFlight = await o.outbox.claim(1, Infinity);
        expect(uuids(inFlight?.records)).toEqual([records[0]!.uuid]);
        expect(await o.outbox.clear()).toBe(2);
        expect((await o.outbox.size()).events).toBe(1);
        if (o.reopen === undefined) {
          await o.outbox.close();
          expect(drops.total('consent')).toBe(3);
          return;
        }
        const reopened = await o.reopen();
        expect(await drain(reopened)).toEqual([]);
        expect((await reopened.size()).events).toBe(0);
        expect(drops.total('consent')).toBe(3);
      });

      it('an unload batch (claimInMemory) taken before clear() is not handed out again after close/reopen, nor dead-lettered', async () => {
        const o = await open();
        if (o.outbox.claimInMemory === undefined) return;
        const drops = recordDrops(o.outbox);
        const written = makeRecords(2);
        o.outbox.append(written);
        await o.outbox.persist();
        const unwritten = makeRecords(1);
        o.outbox.append(unwritten);
        const unload = o.outbox.claimInMemory(10, Infinity);
        expect(new Set(uuids(unload?.records))).toEqual(new Set(uuids([...written, ...unwritten])));
        expect(await o.outbox.clear()).toBe(0);
        await o.outbox.deadLetter(unload!.records.slice(0, 1), 'HTTP 400');
        if (o.reopen === undefined) {
          expect(await o.outbox.claim(10, Infinity)).toBeNull();
          expect(await o.outbox.listDeadLetters()).toEqual([]);
          await o.outbox.close();
        } else {
          const reopened = await o.reopen();
          expect(await drain(reopened)).toEqual([]);
          expect(await reopened.listDeadLetters()).toEqual([]);
        }
        expect(drops.total('dead-lettered')).toBe(0);
        expect(drops.total('consent')).toBe(3);
      });

      it('size() counts pending and in-flight events, their bytes, the oldest timestamp and dead letters', async () => {
        const { outbox } = await open();
        expect(await outbox.size()).toEqual({ events: 0, bytes: 0, oldestTimestampMs: null, deadLetters: 0 });
        const t = Date.now();
        outbox.append([makeRecord(100, t - 5000), makeRecord(150, t - 9000), makeRecord(120, t - 1000)]);
        await outbox.persist();
        expect(await outbox.size()).toEqual({
          events: 3,
          bytes: 370,
          oldestTimestampMs: t - 9000,
          deadLetters: 0,
        });
        const batch = await outbox.claim(1, Infinity);
        expect((await outbox.size()).events).toBe(3);
        await outbox.ack(batch!);
        const after = await outbox.size();
        expect(after.events).toBe(2);
        expect(after.bytes).toBe(270);
        expect(after.oldestTimestampMs).toBe(t - 9000);
      });

      it('keeps small state as JSON; undefined removes a key; bad values are rejected and change nothing', async () => {
        const { outbox } = await open();
        expect(await outbox.getState('missing')).toBeUndefined();
        const value = { installId: 'abc', breaker: { state: 'open', until: 123 }, list: [1, 'two', null] };
        await outbox.setState('k', value);
        expect(await outbox.getState('k')).toEqual(value);
        await outbox.setState('weird key/../with:chars', 42);
        expect(await outbox.getState('weird key/../with:chars')).toBe(42);
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        for (const bad of [cyclic, 10n, () => 1]) {
          const error = await outbox.setState('k', bad).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(OutboxError);
          expect((error as OutboxError).kind).toBe('invalid-state');
        }
        expect(await outbox.getState('k')).toEqual(value);
        const badKey = await outbox.setState('', 1).catch((e: unknown) => e);
        expect((badKey as OutboxError).kind).toBe('invalid-state');
        await outbox.setState('k', undefined);
        expect(await outbox.getState('k')).toBeUndefined();
      });

      it('close() is idempotent; afterwards append does not throw and claim answers null', async () => {
        const { outbox } = await open();
        outbox.append(makeRecords(1));
        await outbox.close();
        await outbox.close();
        await Promise.all([outbox.close(), outbox.close()]);
        expect(() => outbox.append(makeRecords(1))).not.toThrow();
        expect(await outbox.claim(10, Infinity)).toBeNull();
      });

      it('an unsubscribed or throwing drop listener never breaks the outbox', async () => {
        const { outbox } = await open({ limits: { maxEvents: 1 } });
        let calls = 0;
        const off = outbox.onDrop(() => {
          calls++;
        });
        outbox.onDrop(() => {
          throw new Error('listener bug');
        });
        outbox.append(makeRecords(2));
        await outbox.persist();
        expect(calls).toBe(1);
        off();
        outbox.append(makeRecords(2));
        await outbox.persist();
        expect(calls).toBe(1);
        expect((await drain(outbox)).length).toBe(1);
      });
    });

    describe('bad input', () => {
      it('append never throws and never loses what is already stored', async () => {
        const { outbox } = await open({ limits: { maxBytes: 10_000 } });
        const drops = recordDrops(outbox);
        const good = makeRecords(3);
        outbox.append(good.slice(0, 1));
        const bad: unknown[] = [
          [],
          null,
          undefined,
          'not an array',
          42,
          [null, undefined, 7, 'str', {}],
          [{ uuid: 'u-1', json: { not: 'a string' }, timestampMs: 1 }],
          [{ uuid: '', json: '{}', timestampMs: 1 }],
          [{ uuid: 5, json: '{}', timestampMs: 1 }],
          [{ uuid: 'huge', json: `"${'x'.repeat(20_000)}"`, timestampMs: Date.now() }],
        ];
        for (const input of bad) expect(() => outbox.append(input as OutboxRecord[])).not.toThrow();
        const dup = good[1]!;
        outbox.append([dup, dup]);
        outbox.append([dup, good[2]!]);
        const noTime = { uuid: 'no-time', json: '{"a":1}', timestampMs: Number.NaN };
        outbox.append([noTime]);
        await outbox.persist();
        expect(drops.total('too-large')).toBe(1);
        expect(drops.total('corrupt')).toBe(8);
        const seen = await drain(outbox);
        // Duplicates may be kept (the uuid is the idempotency key downstream) but nothing is lost.
        expect(new Set(seen)).toEqual(new Set([...uuids(good), 'no-time']));
        expect(seen.indexOf(good[0]!.uuid)).toBe(0);
      });

      it('ack, release and deadLetter of unknown or already-settled batches change nothing', async () => {
        const { outbox } = await open();
        const records = makeRecords(3);
        outbox.append(records);
        const batch = await outbox.claim(1, Infinity);
        await outbox.ack(batch!);
        await outbox.ack(batch!);
        await outbox.release(batch!);
        await outbox.ack({ records: makeRecords(2), bytes: 1 });
        await outbox.release({ records: [], bytes: 0 });
        await outbox.deadLetter([makeRecord()], 'not claimed');
        await outbox.deadLetter([], 'nothing');
        expect((await outbox.listDeadLetters()).length).toBe(0);
        expect(await drain(outbox)).toEqual(uuids(records.slice(1)));
      });
    });

    if (factory.persistent) {
      describe('persistence', () => {
        it('keeps pending records, claims released at close, and state across reopen; acked records stay gone', async () => {
          const o = await open();
          let outbox = o.outbox;
          const records = makeRecords(6);
          outbox.append(records);
          const acked = await outbox.claim(2, Infinity);
          await outbox.ack(acked!);
          await outbox.claim(2, Infinity); // left unacked: comes back after reopen
          await outbox.setState('install', { id: 'x-1' });
          outbox = await o.reopen!();
          expect(await outbox.getState('install')).toEqual({ id: 'x-1' });
          expect((await outbox.size()).events).toBe(4);
          outbox.append(makeRecords(1));
          const more = makeRecord();
          outbox.append([more]);
          const drained = await drain(outbox);
          expect(drained.slice(0, 4)).toEqual(uuids(records.slice(2)));
          expect(drained.at(-1)).toBe(more.uuid);
          outbox = await o.reopen!();
          expect(await outbox.claim(10, Infinity)).toBeNull();
        });

        it('keeps dead letters across reopen', async () => {
          const o = await open();
          const records = makeRecords(2);
          o.outbox.append(records);
          const batch = await o.outbox.claim(2, Infinity);
          await o.outbox.deadLetter(batch!.records.slice(0, 1), 'permanent');
          await o.outbox.ack(batch!);
          const outbox = await o.reopen!();
          const listed = await outbox.listDeadLetters();
          expect(uuids(listed.map((d) => d.record))).toEqual([records[0]!.uuid]);
          expect(listed[0]?.reason).toBe('permanent');
        });
      });
    }

    it('matches a simple queue model under random append/claim/ack/release/reopen sequences', async () => {
      type Op =
        | { t: 'append'; n: number }
        | { t: 'claim'; n: number }
        | { t: 'ack'; i: number }
        | { t: 'release'; i: number }
        | { t: 'reopen' };
      const ops: fc.Arbitrary<Op>[] = [
        fc.record({ t: fc.constant('append' as const), n: fc.integer({ min: 1, max: 5 }) }),
        fc.record({ t: fc.constant('claim' as const), n: fc.integer({ min: 1, max: 4 }) }),
        fc.record({ t: fc.constant('ack' as const), i: fc.nat(5) }),
        fc.record({ t: fc.constant('release' as const), i: fc.nat(5) }),
      ];
      if (factory.persistent) ops.push(fc.constant({ t: 'reopen' as const }));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(...ops), { minLength: 1, maxLength: 30 }), async (script) => {
          const o = await factory.create({});
          try {
            let outbox = o.outbox;
            // The model: records in append order, each pending or held by one open batch.
            const model: { uuid: string; held: boolean }[] = [];
            let open: { batch: OutboxBatch; uuids: string[] }[] = [];
            for (const op of script) {
              if (op.t === 'append') {
                const recs = makeRecords(op.n);
                outbox.append(recs);
                for (const r of recs) model.push({ uuid: r.uuid, held: false });
              } else if (op.t === 'claim') {
                const expected = model.filter((m) => !m.held).slice(0, op.n);
                const batch = await outbox.claim(op.n, Infinity);
                expect(uuids(batch?.records)).toEqual(expected.map((m) => m.uuid));
                if (batch !== null) {
                  for (const m of expected) m.held = true;
                  open.push({ batch, uuids: expected.map((m) => m.uuid) });
                }
              } else if (op.t === 'ack' || op.t === 'release') {
                if (open.length === 0) continue;
                const [target] = open.splice(op.i % open.length, 1);
                const set = new Set(target!.uuids);
                if (op.t === 'ack') {
                  await outbox.ack(target!.batch);
                  for (let k = model.length - 1; k >= 0; k--) if (set.has(model[k]!.uuid)) model.splice(k, 1);
                } else {
                  await outbox.release(target!.batch);
                  for (const m of model) if (set.has(m.uuid)) m.held = false;
                }
              } else {
                outbox = await o.reopen!();
                open = [];
                for (const m of model) m.held = false;
              }
              expect((await outbox.size()).events).toBe(model.length);
            }
            for (const b of open) await outbox.release(b.batch);
            expect(await drain(outbox, 7)).toEqual(model.map((m) => m.uuid));
          } finally {
            await o.dispose();
          }
        }),
        { numRuns: factory.modelRuns ?? 25 },
      );
    });
  });
}
