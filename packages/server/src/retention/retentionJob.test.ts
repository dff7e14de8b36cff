import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKENDS, freshStore, ingestEvent, until } from '../routes/adminApi.test-helpers.js';
import { StoreError } from '../store/errors.js';
import type { IngestEvent, Store } from '../store/store.js';
import {
  RETENTION_DEFAULTS,
  RetentionOptionError,
  startRetentionJob,
  type RetentionJob,
} from './retentionJob.js';

const DAY = 86_400_000;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const quiet = { info: () => {}, error: () => {} };

function started(job: RetentionJob): RetentionJob {
  cleanups.push(() => job.stop());
  return job;
}

/** A store whose deleteEventsBefore calls are recorded (and can be replaced). */
function recording(store: Store) {
  const calls: Array<{ cutoff: string; limit: number; deleted: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const s = Object.create(store) as Store;
  s.deleteEventsBefore = async (cutoff, limit) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const deleted = await store.deleteEventsBefore(cutoff, limit);
      calls.push({ cutoff, limit, deleted });
      return deleted;
    } finally {
      inFlight--;
    }
  };
  return { store: s, calls, maxInFlight: () => maxInFlight };
}

async function insertMany(
  store: Store,
  projectId: string,
  n: number,
  make: (i: number) => Partial<IngestEvent>,
) {
  for (let i = 0; i < n; i += 1000) {
    const size = Math.min(1000, n - i);
    await store.insertEvents(
      projectId,
      Array.from({ length: size }, (_, j) => ingestEvent(make(i + j))),
    );
  }
}

const daysAgo = (d: number, plusMs = 0): string => new Date(Date.now() - d * DAY + plusMs).toISOString();

describe('startRetentionJob options', () => {
  it('refuses bad options with an error naming the option', async () => {
    const { store, dispose } = await freshStore('sqlite');
    cleanups.push(dispose);
    const cases: Array<[string, Record<string, unknown>]> = [
      ['retentionDays', { retentionDays: -1 }],
      ['retentionDays', { retentionDays: Number.NaN }],
      ['retentionDays', { retentionDays: '90' }],
      ['retentionDays', { retentionDays: Infinity }],
      ['retentionDays', { retentionDays: 1e12 }],
      ['intervalMs', { retentionDays: 1, intervalMs: 0 }],
      ['intervalMs', { retentionDays: 1, intervalMs: 2 ** 31 }],
      ['firstRunDelayMs', { retentionDays: 1, firstRunDelayMs: -1 }],
      ['batchSize', { retentionDays: 1, batchSize: 0 }],
      ['batchSize', { retentionDays: 1, batchSize: 1.5 }],
      ['batchSize', { retentionDays: 1, batchSize: 1e9 }],
      ['logger', { retentionDays: 1, logger: {} }],
      ['store', { retentionDays: 1, store: {} }],
    ];
    for (const [option, over] of cases) {
      let err: unknown;
      try {
        startRetentionJob({ store, logger: quiet, ...over } as never);
      } catch (e) {
        err = e;
      }
      expect(err, option).toBeInstanceOf(RetentionOptionError);
      expect((err as RetentionOptionError).kind).toBe('invalid-option');
      expect((err as RetentionOptionError).option).toBe(option);
      expect((err as Error).message).toContain(option);
    }
    expect(RETENTION_DEFAULTS.retentionDays).toBe(90);
  });

  it('retentionDays 0 disables it: nothing scheduled, nothing deleted', async () => {
    const { store, dispose } = await freshStore('sqlite');
    cleanups.push(dispose);
    const p = await store.createProject('p');
    await store.insertEvents(p.id, [ingestEvent({ timestamp: daysAgo(10_000) })]);
    const rec = recording(store);
    const job = started(
      startRetentionJob({ store: rec.store, retentionDays: 0, firstRunDelayMs: 0, logger: quiet }),
    );
    expect(job.enabled).toBe(false);
    expect(await job.runOnce()).toBe(0);
    expect(rec.calls).toHaveLength(0);
    expect(await store.queryEvents({ projectId: p.id, limit: 10 })).toHaveLength(1);
  });
});

describe('startRetentionJob schedule', () => {
  it.each([
    [90, 3_600_000],
    [1, 3_600_000],
    [0.1, 864_000],
    [0.001, 60_000],
  ])(
    'retentionDays %s runs every %s ms by default (an hour, or a tenth of it, a minute at least)',
    async (days, every) => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] });
      try {
        let calls = 0;
        const store = { deleteEventsBefore: async () => (calls++, 0) } as unknown as Store;
        const job = startRetentionJob({ store, retentionDays: days, logger: quiet });
        // The first run a minute after start (or one interval, when shorter).
        await vi.advanceTimersByTimeAsync(Math.min(60_000, every) - 1);
        expect(calls).toBe(0);
        await vi.advanceTimersByTimeAsync(1);
        expect(calls).toBe(1);
        await vi.advanceTimersByTimeAsync(every - 1);
        expect(calls).toBe(1);
        await vi.advanceTimersByTimeAsync(1);
        expect(calls).toBe(2);
        await job.stop();
      } finally {
        vi.useRealTimers();
      }
    },
  );
});

describe.each(BACKENDS)('retention job (%s)', (backend) => {
  it('deletes events older than the cutoff in bounded batches, in every project, and keeps the rest', async () => {
    const { store, dispose } = await freshStore(backend);
    cleanups.push(dispose);
    const a = await store.createProject('a');
    const b = await store.createProject('b');
    await insertMany(store, a.id, 2500, (i) => ({ timestamp: daysAgo(40, i) }));
    await insertMany(store, b.id, 600, (i) => ({ timestamp: daysAgo(31, i) }));
    const keep = [
      ingestEvent({ timestamp: daysAgo(29) }),
      ingestEvent({ timestamp: new Date().toISOString() }),
    ];
    await store.insertEvents(a.id, keep);
    const rec = recording(store);
    const job = started(
      startRetentionJob({
        store: rec.store,
        retentionDays: 30,
        batchSize: 500,
        firstRunDelayMs: 2 ** 31 - 1,
        logger: quiet,
      }),
    );
    expect(await job.runOnce()).toBe(3100);
    expect(rec.calls.every((c) => c.limit === 500 && c.deleted <= 500)).toBe(true);
    expect(rec.calls.length).toBeGreaterThanOrEqual(7);
    expect(new Set(rec.calls.map((c) => c.cutoff)).size).toBe(1);
    expect(job.lastRun).toMatchObject({ deleted: 3100, batches: rec.calls.length, error: null });
    const left = await store.queryEvents({ projectId: a.id, limit: 1000 });
    expect(left.map((e) => e.uuid).sort()).toEqual(keep.map((e) => e.uuid).sort());
    expect(await store.queryEvents({ projectId: b.id, limit: 1000 })).toHaveLength(0);
    expect(await job.runOnce()).toBe(0);
  });

  it('an insert during a long run is answered while the run goes on (it yields between batches)', async () => {
    const { store, dispose } = await freshStore(backend);
    cleanups.push(dispose);
    const p = await store.createProject('p');
    const old = backend === 'sqlite' ? 40_000 : 20_000;
    await insertMany(store, p.id, old, (i) => ({ timestamp: daysAgo(100, i) }));
    await store.queryEvents({ projectId: p.id, limit: 1 }); // SQLite: expand the ingest log first
    const rec = recording(store);
    const batchSize = 500;
    const job = started(
      startRetentionJob({
        store: rec.store,
        retentionDays: 90,
        batchSize,
        firstRunDelayMs: 2 ** 31 - 1,
        logger: quiet,
      }),
    );
    let runDone = false;
    const t0 = performance.now();
    const run = job.runOnce().then((n) => {
      runDone = true;
      return n;
    });
    await until(() => rec.calls.length >= 2, 'two retention batches');
    const fresh = ingestEvent({ timestamp: new Date().toISOString(), event: 'during_retention' });
    const i0 = performance.now();
    const inserted = await store.insertEvents(p.id, [fresh]);
    const insertMs = performance.now() - i0;
    const batchesBeforeInsertAnswered = rec.calls.length;
    const runWasGoingOn = !runDone;
    expect(inserted).toEqual({ accepted: 1, duplicates: 0, erased: 0 });
    expect(await run).toBe(old);
    const runMs = performance.now() - t0;
    expect(runWasGoingOn).toBe(true);
    expect(batchesBeforeInsertAnswered).toBeLessThan(rec.calls.length);
    expect(rec.maxInFlight()).toBe(1);
    const left = await store.queryEvents({ projectId: p.id, limit: 10 });
    expect(left.map((e) => e.uuid)).toEqual([fresh.uuid]);
    // Figures for the docs, not asserted (the machine is shared).
    console.log(
      `[retention ${backend}] ${old} events in ${rec.calls.length} batches of ${batchSize}: run ${runMs.toFixed(0)} ms, ` +
        `insert during the run answered in ${insertMs.toFixed(1)} ms after batch ${batchesBeforeInsertAnswered}`,
    );
  }, 120_000);

  it('never overlaps runs, and stop() waits for the batch in flight and ends the run', async () => {
    const { store, dispose } = await freshStore(backend);
    cleanups.push(dispose);
    const p = await store.createProject('p');
    await insertMany(store, p.id, 50, (i) => ({ timestamp: daysAgo(100, i) }));
    let release!: () => void;
    let gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const gated = Object.create(store) as Store;
    gated.deleteEventsBefore = async (cutoff, limit) => {
      calls++;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await gate;
      try {
        return await store.deleteEventsBefore(cutoff, limit);
      } finally {
        inFlight--;
      }
    };
    const job = started(
      startRetentionJob({
        store: gated,
        retentionDays: 1,
        batchSize: 10,
        firstRunDelayMs: 2 ** 31 - 1,
        logger: quiet,
      }),
    );
    const first = job.runOnce();
    const second = job.runOnce();
    expect(second).toBe(first);
    await until(() => calls === 1, 'the first batch to start');
    let stopped = false;
    const stopping = job.stop().then(() => (stopped = true));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    release();
    gate = Promise.resolve();
    await stopping;
    expect(await first).toBe(10);
    expect(calls).toBe(1);
    expect(maxInFlight).toBe(1);
    expect(await job.runOnce()).toBe(0);
    expect(await store.queryEvents({ projectId: p.id, limit: 1000 })).toHaveLength(40);
  });
});

describe('retention job failures and schedule', () => {
  it('logs a failing batch and never rejects; the next scheduled run goes on', async () => {
    const { store, dispose } = await freshStore('sqlite');
    cleanups.push(dispose);
    const p = await store.createProject('p');
    await insertMany(store, p.id, 30, (i) => ({ timestamp: daysAgo(100, i) }));
    let failNext = 1;
    let calls = 0;
    const flaky = Object.create(store) as Store;
    flaky.deleteEventsBefore = async (cutoff, limit) => {
      calls++;
      if (calls === 2 && failNext-- > 0) throw new StoreError('storage', 'disk I/O error');
      return store.deleteEventsBefore(cutoff, limit);
    };
    const logger = { info: vi.fn(), error: vi.fn() };
    started(
      startRetentionJob({
        store: flaky,
        retentionDays: 1,
        batchSize: 10,
        firstRunDelayMs: 0,
        intervalMs: 5,
        logger,
      }),
    );
    await until(() => logger.error.mock.calls.length === 1, 'the failure to be logged');
    expect(logger.error.mock.calls[0]![0]).toMatchObject({ kind: 'storage', deleted: 10 });
    // Runs follow each other every 5 ms, so lastRun moves on: look at what each run logged.
    await until(
      () => logger.info.mock.calls.some(([fields]) => (fields as { deleted: number }).deleted === 20),
      'the next run to finish the job',
    );
    expect(await store.queryEvents({ projectId: p.id, limit: 100 })).toHaveLength(0);
    await until(() => logger.info.mock.calls.length >= 2, 'more runs on the schedule');
  });

  it('a closed store is logged as an error, not thrown into the host', async () => {
    const { store, dispose } = await freshStore('sqlite');
    cleanups.push(dispose);
    await store.close();
    const logger = { info: vi.fn(), error: vi.fn() };
    const job = started(startRetentionJob({ store, retentionDays: 1, firstRunDelayMs: 2 ** 31 - 1, logger }));
    expect(await job.runOnce()).toBe(0);
    expect(logger.error).toHaveBeenCalledOnce();
    expect(logger.error.mock.calls[0]![0]).toMatchObject({ kind: 'closed' });
    expect(job.lastRun?.error).toMatch(/closed/);
  });
});

describe('retention when the wall clock jumps', () => {
  const YEAR = 365 * DAY;

  /** A job on a store holding one event 10 days old and one just ingested, with clocks of the test's. */
  async function withClocks(logger: {
    info(): void;
    error(...a: unknown[]): void;
    warn?(...a: unknown[]): void;
  }) {
    const { store, dispose } = await freshStore('sqlite');
    cleanups.push(dispose);
    const p = await store.createProject('p');
    const base = Date.now();
    await store.insertEvents(p.id, [
      ingestEvent({ event: 'old', timestamp: new Date(base - 10 * DAY).toISOString() }),
      ingestEvent({ event: 'recent', timestamp: new Date(base).toISOString() }),
    ]);
    const clock = { wall: base, monotonic: 5_000 };
    const job = started(
      startRetentionJob({
        store,
        retentionDays: 7,
        firstRunDelayMs: 3_600_000,
        logger,
        now: () => clock.wall,
        monotonicNow: () => clock.monotonic,
      }),
    );
    const left = async () =>
      (await store.queryEvents({ projectId: p.id, limit: 10 })).map((e) => e.event).sort();
    /** Both clocks move on by `ms`; the wall clock also steps by `stepMs`. */
    const pass = (ms: number, stepMs = 0) => {
      clock.monotonic += ms;
      clock.wall += ms + stepMs;
    };
    return { job, left, pass, base };
  }

  it('a run after a step of 2 years deletes as of the measured time, warns naming the jump, and keeps doing so', async () => {
    const warnings: Array<[Record<string, unknown>, string]> = [];
    const { job, left, pass, base } = await withClocks({
      info: () => {},
      error: () => {},
      warn: (obj: Record<string, unknown>, msg: string) => warnings.push([obj, msg]),
    });
    pass(1_000, 2 * YEAR);
    expect(await job.runOnce()).toBe(1);
    expect(await left()).toEqual(['recent']);
    expect(job.lastRun).toMatchObject({
      cutoff: new Date(base + 1_000 - 7 * DAY).toISOString(),
      startedAt: new Date(base + 1_000 + 2 * YEAR).toISOString(),
      wallClockAheadMs: 2 * YEAR,
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toMatchObject({ wallClockAheadMs: 2 * YEAR });
    expect(warnings[0]![1]).toMatch(/^the wall clock is 2 y ahead of the time the monotonic clock measured/);
    // An hour later, the clock still wrong: still not taken on trust.
    pass(3_600_000);
    await job.runOnce();
    expect(await left()).toEqual(['recent']);
    expect(job.lastRun!.wallClockAheadMs).toBe(2 * YEAR);
    expect(warnings).toHaveLength(2);
    // Corrected: trusted again.
    pass(1_000, -2 * YEAR);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBeNull();
    expect(job.lastRun!.cutoff).toBe(new Date(base + 3_602_000 - 7 * DAY).toISOString());
    expect(warnings).toHaveLength(2);
  });

  it('drift within a minute and a step back are trusted; a logger without warn gets the warning as error', async () => {
    const errors: string[] = [];
    const { job, pass, base } = await withClocks({
      info: () => {},
      error: (_o, msg) => errors.push(String(msg)),
    });
    pass(3_600_000, 59_000);
    await job.runOnce();
    expect(job.lastRun).toMatchObject({
      wallClockAheadMs: null,
      cutoff: new Date(base + 3_659_000 - 7 * DAY).toISOString(),
    });
    // Each run measures from the last trusted one: drift does not add up to a jump.
    pass(3_600_000, 59_000);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBeNull();
    pass(1_000, -DAY);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBeNull();
    // The step back corrected (NTP): no jump, the clocks agree with the reference again.
    pass(3_600_000, DAY);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBeNull();
    pass(3_600_000);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBeNull();
    expect(errors).toEqual([]);
    pass(1_000, 2 * 3_600_000);
    await job.runOnce();
    expect(job.lastRun!.wallClockAheadMs).toBe(2 * 3_600_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^the wall clock is 2 h ahead/);
  });
});
