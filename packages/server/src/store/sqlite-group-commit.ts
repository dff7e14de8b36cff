import type { Expander } from './sqlite-expander.js';
import { backpressureTimeout, isDiskFull, storageError } from './sqlite-errors.js';
import type { IngestLog, LogAppend } from './sqlite-ingest-log.js';
import type { OpenFiles } from './sqlite-open-files.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import { StoreCallDropped, StoreError } from './errors.js';
import type { InsertResult } from './store.js';

interface Waiting extends LogAppend {
  resolve: (r: InsertResult) => void;
  reject: (e: unknown) => void;
  /** When it was queued (Date.now()): past `waitBoundMs` under backpressure it is refused. */
  queuedAt: number;
  /** The caller gave up (its client went away): dropped if not yet committed. */
  signal: AbortSignal | undefined;
}

/**
 * SqliteStore.insertEvents' calls on their way into the ingest log: each resolves once its
 * batch is committed to the log, and calls that arrive while a commit is pending share one
 * transaction (group commit). Commits take turns with the expander worker's checkpoints of the
 * log file (`WriteTurn.logWrite`) and wait while the log holds `maxPendingEvents` unexpanded
 * events (backpressure).
 */
export class GroupCommit {
  private queue: Waiting[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | null = null;
  /** Closing: what is queued is committed without waiting for backpressure (see commitAll). */
  private closing = false;

  constructor(
    private readonly log: IngestLog,
    private readonly expander: Expander,
    private readonly turn: WriteTurn,
    /** Whether homing.db and the log file are still the files at their paths. */
    private readonly openFiles: OpenFiles,
    private readonly maxPendingEvents: number,
    /** Told whether the last write to the log found the disk full (see SqliteStore.ping). */
    private readonly noteDiskFull: (full: boolean) => void,
    /**
     * Longest a call waits for backpressure before it is refused (`timeout`, nothing written):
     * the store's busyTimeoutMs, the bound of a write waiting for a lock.
     */
    private readonly waitBoundMs: number,
  ) {}

  /**
   * Queues a call; resolves once it is committed to the log. Rejects, with nothing of it
   * written, when backpressure held it past `waitBoundMs` or `signal` aborted before its commit.
   */
  add(call: LogAppend, signal?: AbortSignal): Promise<InsertResult> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(aborted());
      this.queue.push({ ...call, resolve, reject, queuedAt: Date.now(), signal });
      this.scheduleFlush();
    });
  }

  /** Whether calls are queued or being committed. */
  get pending(): boolean {
    return this.flushing !== null || this.queue.length > 0;
  }

  /**
   * Commits every call queued so far (and those that join meanwhile). `closing`: from now on
   * without waiting for backpressure: an expander held up by another process's lock would
   * hold close() with it, and the queue is bounded by the calls in flight.
   */
  async commitAll(closing = false): Promise<void> {
    if (closing) {
      this.closing = true;
      this.expander.notifyProgress();
    }
    while (this.flushing || this.queue.length > 0) await (this.flushing ?? this.flush());
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.flushing) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  /**
   * Commits the queued insertEvents calls, one transaction per group (group commit): calls
   * that arrive while it waits for the write turn or for backpressure join the next group.
   */
  private flush(): Promise<void> {
    this.flushScheduled = false;
    if (!this.flushing) {
      const run: Promise<void> = this.commitQueued().finally(() => {
        if (this.flushing === run) this.flushing = null;
        // Calls that arrived after the loop's last look.
        if (this.queue.length > 0) this.scheduleFlush();
      });
      this.flushing = run;
    }
    return this.flushing;
  }

  private async commitQueued(): Promise<void> {
    while (this.queue.length > 0) {
      await this.waitForExpander();
      const calls = this.queue;
      this.queue = [];
      if (calls.length === 0) break;
      await this.turn.logWrite(() => this.commit(calls));
      this.expander.wake();
    }
  }

  /**
   * Backpressure: the in-memory index of unexpanded keys stays under its bound. Calls that
   * wait past `waitBoundMs` (an expander held up by another process's write lock on homing.db
   * makes no progress at all) are refused and taken out of the queue, never written: without
   * the bound every request waited for the lock, clients gave up and their calls were still
   * committed later, unacknowledged, their bodies held in memory meanwhile.
   */
  private async waitForExpander(): Promise<void> {
    this.dropGivenUp();
    while (!this.closing && this.log.pendingEvents >= this.maxPendingEvents && this.queue.length > 0) {
      // Queued in order: the first call is the one that waited longest.
      const left = this.queue[0]!.queuedAt + this.waitBoundMs - Date.now();
      if (left > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.expander.nextProgress(),
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, left);
            timer.unref();
          }),
        ]);
        clearTimeout(timer);
      }
      this.dropGivenUp();
    }
  }

  /** Refuses the queued calls that waited past the bound, and drops those whose caller gave up. */
  private dropGivenUp(): void {
    const now = Date.now();
    const backpressured = !this.closing && this.log.pendingEvents >= this.maxPendingEvents;
    const keep: Waiting[] = [];
    for (const c of this.queue) {
      if (c.signal?.aborted) c.reject(aborted());
      else if (backpressured && now - c.queuedAt >= this.waitBoundMs)
        c.reject(backpressureTimeout(this.log.pendingEvents, now - c.queuedAt));
      else keep.push(c);
    }
    if (keep.length !== this.queue.length) this.queue = keep;
  }

  private commit(calls: Waiting[]): void {
    // A caller that went away while this commit waited for its turn: nothing of it is written.
    if (calls.some((c) => c.signal?.aborted)) {
      for (const c of calls) if (c.signal?.aborted) c.reject(aborted());
      calls = calls.filter((c) => !c.signal?.aborted);
      if (calls.length === 0) return;
    }
    const gone = this.openFiles.check();
    if (gone !== null) {
      for (const c of calls) c.reject(gone);
      return;
    }
    try {
      const results = this.log.append(calls);
      this.noteDiskFull(false);
      calls.forEach((c, i) => c.resolve(results[i]!));
    } catch (err) {
      if (isDiskFull(err)) this.noteDiskFull(true);
      // A constraint or trigger failure belongs to one call's data: retry each call alone so
      // its neighbours are kept. Anything else (busy, disk full, I/O) would fail them all
      // again, and retrying would hold the event loop once more per call.
      const perCall =
        calls.length > 1 && String((err as { code?: unknown }).code).startsWith('SQLITE_CONSTRAINT');
      if (perCall) for (const c of calls) this.appendAlone(c);
      else for (const c of calls) c.reject(storageError(err));
    }
  }

  private appendAlone(c: Waiting): void {
    try {
      c.resolve(this.log.append([c])[0]!);
    } catch (err) {
      c.reject(storageError(err));
    }
  }
}

/** The caller's signal aborted before its call was committed: nothing of it was written. */
function aborted(): StoreError {
  return new StoreCallDropped();
}
