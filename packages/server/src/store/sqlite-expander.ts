import { createRequire } from 'node:module';
import { basename, dirname } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import {
  expanderWorkerMain,
  type ExpanderCommand,
  type ExpanderReport,
  type ExpanderWorkerData,
} from './sqlite-expander-worker.js';
import { SCRUBBED_MESSAGE } from './sqlite-close-scrub.js';
import { diskFullAdvice, isDiskFull } from './sqlite-errors.js';
import { createKeyFilter, keyFilterAdd } from './sqlite-key-filter.js';
import { shrinkIdleFiles } from './sqlite-idle-shrink.js';
import { checkpointLogWal, holdLogWrites } from './sqlite-log-checkpoint.js';
import { walSizeLimitBytes, type ResolvedSqliteOptions } from './sqlite-options.js';
import { TURN_SLOTS, type WriteTurn } from './sqlite-write-turn.js';

const SQLITE_MODULE = createRequire(import.meta.url).resolve('better-sqlite3');

/** A failed expansion, as the worker reported it. */
export class ExpansionError extends Error {
  readonly kind = 'expansion';
  constructor(
    message: string,
    readonly code: string | null,
  ) {
    super(message);
    this.name = 'ExpansionError';
  }
}

interface CatchUpWaiter {
  upTo: number;
  /** The wake counter after this waiter woke the worker: attempts from before it do not fail it. */
  wokeAt: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * The store's handle on its expander worker (sqlite-expander-worker.ts), which moves the
 * ingest log into `events` on its own thread and connection: starts it, wakes it when log rows
 * arrive, tells the ingest log which rows are expanded (`onExpanded`), lets reads wait until
 * the rows committed before them are expanded, restarts it if it dies, and stops it on close
 * within the close budget.
 */
export class Expander {
  private worker: Worker | null = null;
  private port: MessagePort | null = null;
  private waiters: CatchUpWaiter[] = [];
  private progressListeners: (() => void)[] = [];
  /** When (Date.now()) the worker last committed a chunk or found nothing to do. */
  lastProgressAt = Date.now();
  private stopped = false;
  private stopping: Promise<number> | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  /**
   * The key filter the current worker fills, or null. A new one for every worker start: a
   * restarted worker rebuilds from nothing, and the store must never see a half-cleared one.
   */
  filter: Int32Array | null = null;
  /** The ids the current worker's filter covers (ExpanderWorkerData.filterThrough); -1 at first. */
  private filterThrough: BigInt64Array | null = null;
  /** The log id a scrub is due through (0: none); see scrub(). */
  private scrubThrough = 0;

  constructor(
    private readonly path: string,
    private readonly logPath: string,
    private readonly opts: ResolvedSqliteOptions,
    private readonly turn: WriteTurn,
    private readonly onExpanded: (lastId: number) => void,
  ) {}

  start(): void {
    if (this.worker || this.stopped) return;
    const channel = new MessageChannel();
    const filter = createKeyFilter(this.opts.keyFilterMiB);
    const filterThrough = filter === null ? null : new BigInt64Array(new SharedArrayBuffer(16)).fill(-1n);
    const data: ExpanderWorkerData = {
      sqliteModule: SQLITE_MODULE,
      path: this.path,
      logPath: this.logPath,
      synchronous: this.opts.synchronous,
      cacheSizeMiB: this.opts.cacheSizeMiB,
      walAutocheckpointPages: this.opts.walAutocheckpointPages,
      walSizeLimitBytes: walSizeLimitBytes(this.opts),
      logVacuumFreeBytes: this.opts.logVacuumFreeMiB * 1024 * 1024,
      busyTimeoutMs: this.opts.busyTimeoutMs,
      chunkEvents: this.opts.expandChunkEvents,
      nice: this.opts.expandNice,
      pollMs: this.opts.expandPollMs,
      retryMs: this.opts.expandRetryMs,
      shared: this.turn.shared,
      slots: TURN_SLOTS,
      port: channel.port2,
      filter,
      filterThrough,
      filterScanRows: 20_000,
    };
    const source = `(${expanderWorkerMain.toString()})(require, ${[
      keyFilterAdd,
      checkpointLogWal,
      holdLogWrites,
      shrinkIdleFiles,
    ]
      .map(String)
      .join(', ')})`;
    const worker = new Worker(source, {
      eval: true,
      workerData: data,
      transferList: [channel.port2],
    });
    this.worker = worker;
    this.filter = filter;
    this.filterThrough = filterThrough;
    this.port = channel.port1;
    // The worker sleeps when idle; it must not keep the process alive by itself.
    worker.unref();
    worker.on('message', (m: ExpanderReport) => this.onReport(m));
    // A scrub a worker that exited had not done yet.
    this.postScrub();
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = null;
      this.filter = null;
      this.filterThrough = null;
      this.port?.close();
      this.port = null;
      if (this.stopped) return;
      const err = new ExpansionError('the expander worker exited unexpectedly', null);
      this.fail(err);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.start();
      }, this.opts.expandRetryMs);
      this.restartTimer.unref();
    });
  }

  /**
   * Whether every key expanded through `expandedThrough` (the id `ingest_progress` holds) is in
   * `filter`: the id is the worker's last commit or its commit in progress, as it published
   * them in shared memory (before its report arrives; see ExpanderWorkerData.filterThrough).
   */
  covers(expandedThrough: number): boolean {
    const cells = this.filterThrough;
    if (cells === null) return false;
    const id = BigInt(expandedThrough);
    return Atomics.load(cells, 0) === id || Atomics.load(cells, 1) === id;
  }

  /** New log rows (or a reader waiting): make sure the worker is not sleeping. */
  wake(): void {
    this.turn.wake();
  }

  /** Resolves once every log row with id ≤ upTo is expanded; rejects if expansion fails. */
  catchUp(upTo: number): Promise<void> {
    if (upTo <= 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ upTo, wokeAt: this.turn.wake(), resolve, reject });
    });
  }

  /** Resolves at the worker's next report (used for backpressure). */
  nextProgress(): Promise<void> {
    return new Promise((resolve) => {
      this.progressListeners.push(resolve);
      this.wake();
    });
  }

  /**
   * An erasure is done and log rows through `through` may hold the person's bytes: the worker
   * scrubs the store's files at its next idle moment (ExpanderCommand 'scrub'), and again after a
   * restart of the worker if it had not yet.
   */
  scrub(through: number): void {
    if (through <= this.scrubThrough) return;
    this.scrubThrough = through;
    this.postScrub();
  }

  private postScrub(): void {
    if (this.port === null || this.scrubThrough === 0) return;
    const cmd: ExpanderCommand = { type: 'scrub', through: this.scrubThrough };
    this.port.postMessage(cmd);
    this.wake();
  }

  /**
   * Stops the worker after it expanded for up to `budgetMs` (what is left stays in the log
   * for the next start). Answers how many events were left (-1: not known).
   */
  stop(budgetMs: number): Promise<number> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return (this.stopping = Promise.resolve(-1));
    this.stopping = new Promise<number>((resolve) => {
      let left = -1;
      worker.on('message', (m: ExpanderReport) => {
        if (m.type === 'stopped') left = m.leftEvents;
      });
      worker.once('exit', () => {
        this.rejectAll(new ExpansionError('the store is closing', null));
        resolve(left);
      });
      worker.ref();
      const cmd: ExpanderCommand = { type: 'stop', budgetMs };
      this.port!.postMessage(cmd);
      this.wake();
    });
    return this.stopping;
  }

  private onReport(m: ExpanderReport): void {
    if (m.type === 'progress') {
      this.lastProgressAt = Date.now();
      if (m.through > 0) this.onExpanded(m.through);
      const done = this.waiters.filter((w) => m.through >= w.upTo);
      if (done.length > 0) {
        this.waiters = this.waiters.filter((w) => !done.includes(w));
        for (const w of done) w.resolve();
      }
      this.notifyProgress();
    } else if (m.type === 'damaged') {
      for (const row of m.rows) {
        this.opts.onNotice?.({
          level: 'error',
          message:
            'a row of the ingest log is damaged on disk (its events do not decode) and was set aside: ' +
            'its events are not in the events table; the rows after it are. The row is kept whole in ' +
            "homing.db's damaged_log_rows table for salvage (it holds event data: delete it once done); " +
            'check the disk (dmesg, SMART) for the cause',
          fields: { logRow: row.id, events: row.events, projectPk: row.projectPk, file: this.logPath },
        });
      }
    } else if (m.type === 'error') {
      // SQLite's message names no values; the advice says how much room it takes.
      const message = isDiskFull(m)
        ? `${m.message}; ${diskFullAdvice(dirname(this.path), basename(this.logPath))}`
        : m.message;
      this.fail(new ExpansionError(message, m.code), m.wakeSeen);
    } else if (m.type === 'scrubbed') {
      if (m.through >= this.scrubThrough) this.scrubThrough = 0;
      this.opts.onNotice?.({
        level: 'info',
        message: SCRUBBED_MESSAGE,
        fields: { logRow: m.through },
      });
    } else if (m.type === 'shrink-failed') {
      // Readers are not failed: nothing they wait for went wrong.
      this.opts.onBackgroundError?.(new ExpansionError(m.message, m.code));
    }
  }

  /**
   * An expansion attempt failed. Readers that woke the worker after the attempt began are not
   * failed by it: the worker tries again for them (it was woken), and they get that answer.
   */
  private fail(err: unknown, attemptWake = Infinity): void {
    this.opts.onBackgroundError?.(err);
    this.rejectAll(err, attemptWake);
    this.notifyProgress();
  }

  private rejectAll(err: unknown, attemptWake = Infinity): void {
    const failed = this.waiters.filter((w) => w.wokeAt <= attemptWake);
    if (failed.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.wokeAt > attemptWake);
    for (const w of failed) w.reject(err);
  }

  /** Wakes everyone waiting in nextProgress (they look again at what they wait for). */
  notifyProgress(): void {
    const listeners = this.progressListeners;
    this.progressListeners = [];
    for (const l of listeners) l();
  }
}
