import { MAX_TIMER_MS } from '../maxTimer.js';
import type { Store } from '../store/store.js';

/**
 * Retention: a periodic job that deletes events whose timestamp is older than `retentionDays`.
 * It deletes in bounded batches (one `deleteEventsBefore(cutoff, batchSize)` call each) and
 * yields to the event loop between them, so ingest keeps being answered during a long run; runs
 * never overlap; `stop()` waits for the batch in flight. `retentionDays: 0` disables it.
 *
 * A run's cutoff comes from the wall clock, which can step (an administrator, a bad NTP source,
 * a VM restored from a snapshot): stepped years ahead, it would date every event as expired.
 * So the job keeps a reference, the wall and monotonic clocks read together (at start, then at
 * every run whose wall clock agreed within the margin; a step back is trusted but not taken as
 * the reference, so its correction forward is no jump), and a run that finds the wall clock more than
 * CLOCK_JUMP_MARGIN_MS ahead of what the monotonic clock measured since then deletes as of the
 * time the monotonic clock supports, not the wall clock's, and logs a warning naming the jump.
 * Until the wall clock comes back, every run does so: a jump is not taken on trust later either,
 * since nothing in the process can tell a wrong step from a right one; a restart takes the wall
 * clock as it is. Limits: a clock already wrong when the process starts has no reference to be
 * told from; and a machine's suspend (a laptop's sleep) looks like a jump, since the monotonic
 * clock stops during it, so retention then lags by the time slept until a restart. Both err on
 * keeping events, never on deleting them early.
 */

/** pino-compatible: Fastify's `app.log` fits. */
export interface RetentionLogger {
  info(obj: object, msg: string): void;
  /** A wall clock jump the run did not trust; `error` when the logger has no `warn`. */
  warn?(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RetentionJobOptions {
  store: Store;
  /** Keep events this many days (fractions allowed); 0 disables retention (nothing is deleted). */
  retentionDays: number;
  /**
   * Time between the end of one run and the start of the next. Default an hour, or a tenth of
   * the retention when that is shorter (a minute at least): with `retentionDays: 0.01`
   * (15 minutes) events are not kept four times as long as asked.
   */
  intervalMs?: number;
  /**
   * Delay of the first run after start, so it does not compete with start-up. 0 runs it at
   * once. Default a minute, or the interval when that is shorter.
   */
  firstRunDelayMs?: number;
  /** Events deleted per batch: the longest the store is held by retention at a time. */
  batchSize?: number;
  logger?: RetentionLogger;
  /** Wall clock, for tests. */
  now?: () => number;
  /** Monotonic clock, ms (`performance.now`), for tests: how the wall clock's jumps are told. */
  monotonicNow?: () => number;
}

export const RETENTION_DEFAULTS = {
  /** `homing serve --retention-days` default. */
  retentionDays: 90,
  intervalMs: 3600_000,
  firstRunDelayMs: 60_000,
  /**
   * Events per `deleteEventsBefore` call: how often a run looks at `stop()`. Not how long the
   * event loop is held: SQLite splits a call into transactions of about 30 ms, sized by time
   * (a fixed 1000 took 30 ms on a small table and 560 ms on 2 million events; docs/data-rights.md).
   */
  batchSize: 1000,
} as const;

/**
 * How far the wall clock may get ahead of the monotonic clock between runs before a run stops
 * trusting it, ms: NTP's slewing moves it by well under a second an hour; a step is larger.
 */
export const CLOCK_JUMP_MARGIN_MS = 60_000;

const MAX_BATCH_SIZE = 100_000;
const DAY_MS = 86_400_000;

export class RetentionOptionError extends Error {
  override readonly name = 'RetentionOptionError';
  readonly kind = 'invalid-option' as const;
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`retention option ${option}: ${message}`);
  }
}

export interface RetentionRun {
  startedAt: string;
  finishedAt: string;
  cutoff: string;
  deleted: number;
  batches: number;
  /** The error that ended the run early, if one did (the job keeps its schedule). */
  error: string | null;
  /**
   * How far the wall clock was ahead of the time the monotonic clock supports, ms, when the run
   * did not trust it (its cutoff is then from the monotonic clock); null when it did.
   */
  wallClockAheadMs: number | null;
}

export interface RetentionJob {
  /** Runs now (or joins the run in progress); resolves how many events it deleted. Never rejects. */
  runOnce(): Promise<number>;
  /** Stops the schedule and waits for the batch in flight; later runOnce calls delete nothing. */
  stop(): Promise<void>;
  /** The last finished run, or null before the first. */
  readonly lastRun: RetentionRun | null;
  readonly enabled: boolean;
}

const consoleLogger: RetentionLogger = {
  info: () => {},
  error: (obj, msg) => console.error(msg, obj),
};

/** The shortest interval a short retention gets by default. */
const MIN_DEFAULT_INTERVAL_MS = 60_000;

/** An hour, or a tenth of the retention when shorter (a minute at least). */
function defaultIntervalMs(retentionDays: unknown): number {
  if (typeof retentionDays !== 'number' || !(retentionDays > 0)) return RETENTION_DEFAULTS.intervalMs;
  const tenth = Math.round((retentionDays * DAY_MS) / 10);
  return Math.min(RETENTION_DEFAULTS.intervalMs, Math.max(MIN_DEFAULT_INTERVAL_MS, tenth));
}

/**
 * Refuses, with the RetentionOptionError startRetentionJob would throw, every option but the
 * store: startServer checks them before it opens its store, so a mistyped retention neither
 * creates a data directory nor waits for PostgreSQL before it is reported.
 */
export function checkRetentionOptions(options: Omit<RetentionJobOptions, 'store'>): void {
  resolveOptions(options);
}

function resolveOptions(
  options: Omit<RetentionJobOptions, 'store'>,
): Required<Omit<RetentionJobOptions, 'store'>> {
  const intervalMs = options.intervalMs ?? defaultIntervalMs(options.retentionDays);
  const o = {
    retentionDays: options.retentionDays,
    intervalMs,
    firstRunDelayMs:
      options.firstRunDelayMs ??
      (Number.isInteger(intervalMs) && intervalMs > 0
        ? Math.min(RETENTION_DEFAULTS.firstRunDelayMs, intervalMs)
        : RETENTION_DEFAULTS.firstRunDelayMs),
    batchSize: options.batchSize ?? RETENTION_DEFAULTS.batchSize,
    logger: options.logger ?? consoleLogger,
    now: options.now ?? Date.now,
    monotonicNow: options.monotonicNow ?? (() => performance.now()),
  };
  if (typeof o.retentionDays !== 'number' || !Number.isFinite(o.retentionDays) || o.retentionDays < 0) {
    throw new RetentionOptionError(
      'retentionDays',
      `must be a number ≥ 0 (0 disables retention), got ${String(o.retentionDays)}`,
    );
  }
  if (o.retentionDays * DAY_MS > 8.64e15) {
    throw new RetentionOptionError('retentionDays', 'is beyond the representable date range');
  }
  if (!Number.isInteger(o.intervalMs) || o.intervalMs < 1 || o.intervalMs > MAX_TIMER_MS) {
    throw new RetentionOptionError('intervalMs', `must be an integer from 1 to ${MAX_TIMER_MS}`);
  }
  if (!Number.isInteger(o.firstRunDelayMs) || o.firstRunDelayMs < 0 || o.firstRunDelayMs > MAX_TIMER_MS) {
    throw new RetentionOptionError('firstRunDelayMs', `must be an integer from 0 to ${MAX_TIMER_MS}`);
  }
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1 || o.batchSize > MAX_BATCH_SIZE) {
    throw new RetentionOptionError('batchSize', `must be an integer from 1 to ${MAX_BATCH_SIZE}`);
  }
  if (typeof o.logger?.info !== 'function' || typeof o.logger.error !== 'function') {
    throw new RetentionOptionError('logger', 'must have info(obj, msg) and error(obj, msg)');
  }
  return o;
}

/** `2 y 3 d`, `5 h 2 min`, `90 s`: a jump's size, readable in a log line. */
function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['y', 365 * DAY_MS],
    ['d', DAY_MS],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ];
  const parts: string[] = [];
  let left = Math.round(ms / 1000) * 1000;
  for (const [name, size] of units) {
    if (left >= size && parts.length < 2) {
      parts.push(`${Math.floor(left / size)} ${name}`);
      left %= size;
    }
  }
  return parts.join(' ') || `${ms} ms`;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Starts the retention schedule (timers unref'd). Throws RetentionOptionError for bad options. */
export function startRetentionJob(options: RetentionJobOptions): RetentionJob {
  const store = options.store as Partial<Store> | null | undefined;
  if (store === null || typeof store !== 'object' || typeof store.deleteEventsBefore !== 'function') {
    throw new RetentionOptionError('store', 'must be a Store');
  }
  const o = { ...resolveOptions(options), store: options.store };
  const enabled = o.retentionDays > 0;
  let stopped = false;
  let running: Promise<number> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let lastRun: RetentionRun | null = null;
  // The wall and monotonic clocks read together, when the wall clock was last trusted.
  let reference = { wall: o.now(), monotonic: o.monotonicNow() };

  /** The time this run deletes as of: the wall clock's, unless it jumped ahead since `reference`. */
  const runTime = (): { wall: number; at: number; aheadMs: number | null } => {
    const wall = o.now();
    const monotonic = o.monotonicNow();
    const supported = reference.wall + (monotonic - reference.monotonic);
    const aheadMs = wall - supported;
    if (aheadMs <= CLOCK_JUMP_MARGIN_MS) {
      // Trusted, a step back included (its cutoff is earlier: it deletes less); but only a clock
      // that agrees becomes the reference. Taken after a step back, the step's correction
      // forward looked like a jump, warned about at every run until a restart.
      if (aheadMs >= -CLOCK_JUMP_MARGIN_MS) reference = { wall, monotonic };
      return { wall, at: wall, aheadMs: null };
    }
    return { wall, at: supported, aheadMs: Math.round(aheadMs) };
  };

  const schedule = (delayMs: number): void => {
    if (stopped || !enabled) return;
    timer = setTimeout(() => {
      timer = null;
      void runOnce().finally(() => schedule(o.intervalMs));
    }, delayMs);
    timer.unref();
  };

  const run = async (): Promise<number> => {
    const { wall: started, at, aheadMs } = runTime();
    const cutoff = new Date(at - o.retentionDays * DAY_MS).toISOString();
    if (aheadMs !== null) {
      (o.logger.warn ?? o.logger.error).call(
        o.logger,
        {
          wallClock: new Date(started).toISOString(),
          supportedTime: new Date(at).toISOString(),
          wallClockAheadMs: aheadMs,
          cutoff,
        },
        `the wall clock is ${formatDuration(aheadMs)} ahead of the time the monotonic clock measured ` +
          'since it was last trusted (at start or a retention run): it was set or stepped forward, or ' +
          "the machine was suspended. This run deletes as of the measured time, not the wall clock's, " +
          'and so will every run until the clocks agree again or the server restarts',
      );
    }
    let deleted = 0;
    let batches = 0;
    let error: string | null = null;
    try {
      // A batch smaller than asked for means nothing older is left (as of this run's cutoff).
      while (!stopped) {
        const n = await o.store.deleteEventsBefore(cutoff, o.batchSize);
        deleted += n;
        batches++;
        if (n < o.batchSize) break;
        await yieldToEventLoop();
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      o.logger.error(
        { err, kind: (err as { kind?: unknown }).kind, cutoff, deleted },
        'retention run failed; it will be tried again at the next interval',
      );
    }
    lastRun = {
      startedAt: new Date(started).toISOString(),
      finishedAt: new Date(o.now()).toISOString(),
      cutoff,
      deleted,
      batches,
      error,
      wallClockAheadMs: aheadMs,
    };
    if (error === null) {
      o.logger.info({ cutoff, deleted, batches, retentionDays: o.retentionDays }, 'retention run finished');
    }
    return deleted;
  };

  const runOnce = (): Promise<number> => {
    if (!enabled || stopped) return Promise.resolve(0);
    running ??= run().finally(() => {
      running = null;
    });
    return running;
  };

  schedule(o.firstRunDelayMs);

  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (running !== null) await running;
    },
    get lastRun() {
      return lastRun;
    },
    enabled,
  };
}
