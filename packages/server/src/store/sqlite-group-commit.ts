import type { Expander } from './sqlite-expander.js';
import { isDiskFull, storageError } from './sqlite-errors.js';
import type { IngestLog, LogAppend } from './sqlite-ingest-log.js';
import type { OpenFiles } from './sqlite-open-files.js';
import type { WriteTurn } from './sqlite-write-turn.js';
import type { InsertResult } from './store.js';

interface Waiting extends LogAppend {
  resolve: (r: InsertResult) => void;
  reject: (e: unknown) => void;
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

  constructor(
    private readonly log: IngestLog,
    private readonly expander: Expander,
    private readonly turn: WriteTurn,
    /** Whether homing.db and the log file are still the files at their paths. */
    private readonly openFiles: OpenFiles,
    private readonly maxPendingEvents: number,
    /** Told whether the last write to the log found the disk full (see SqliteStore.ping). */
    private readonly noteDiskFull: (full: boolean) => void,
  ) {}

  /** Queues a call; resolves once it is committed to the log. */
  add(call: LogAppend): Promise<InsertResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...call, resolve, reject });
      this.scheduleFlush();
    });
  }

  /** Whether calls are queued or being committed. */
  get pending(): boolean {
    return this.flushing !== null || this.queue.length > 0;
  }

  /** Commits every call queued so far (and those that join meanwhile). */
  async commitAll(): Promise<void> {
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
      // Backpressure: the in-memory index of unexpanded keys stays under its bound.
      while (this.log.pendingEvents >= this.maxPendingEvents) await this.expander.nextProgress();
      const calls = this.queue;
      this.queue = [];
      await this.turn.logWrite(() => this.commit(calls));
      this.expander.wake();
    }
  }

  private commit(calls: Waiting[]): void {
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
