import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { IngestLog } from './sqlite-ingest-log.js';
import type { ResolvedSqliteOptions } from './sqlite-options.js';

/**
 * Decides when the ingest log is expanded into `events`: in the background in bounded chunks,
 * yielding to the event loop between them; synchronously when the log reaches its bound
 * (backpressure); fully before a read; within a budget on close.
 */
export class Expander {
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastInsertAt = -Infinity;
  private lastExpandEndAt = -Infinity;
  private eluMark = performance.eventLoopUtilization();
  private expandMsInWindow = 0;
  private room = false;

  constructor(
    private readonly log: IngestLog,
    private readonly opts: ResolvedSqliteOptions,
  ) {}

  /** An insertEvents call arrived: ingest is active. */
  noteInsert(): void {
    this.lastInsertAt = performance.now();
  }

  /** Backpressure: expands until the in-memory index of unexpanded events is under its bound. */
  makeRoom(): void {
    while (this.log.pendingEvents >= this.opts.maxPendingEvents) {
      if (!this.log.expandChunk(this.opts.expandChunkEvents).more) break;
    }
  }

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.step());
  }

  /** Expands every log row committed before this call, yielding between chunks. */
  async catchUp(assertOpen: () => void): Promise<void> {
    const upTo = this.log.maxLogId();
    if (upTo === 0) return;
    for (;;) {
      assertOpen();
      if (!this.log.expandChunk(this.opts.expandChunkEvents, upTo).more) return;
      await yieldToLoop();
    }
  }

  /** Stops background work, then expands for up to `budgetMs`; the rest stays for the next start. */
  finish(budgetMs: number): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const deadline = Date.now() + budgetMs;
    try {
      while (Date.now() < deadline && this.log.expandChunk(this.opts.expandChunkEvents).more) {
        /* next chunk */
      }
    } catch {
      /* left in the log for the next start */
    }
  }

  private step(): void {
    this.scheduled = false;
    if (this.stopped) return;
    // Ingest first: while inserts keep arriving, the event loop has little room left besides
    // expansion, and the log is under half its bound, the expander waits, so bursts are
    // acknowledged at log speed. Under a lighter steady load it keeps going, so the log (and
    // the catch-up every read does) stays small.
    const now = performance.now();
    const inserting =
      now - this.lastInsertAt < this.opts.expandIdleMs ||
      (this.lastInsertAt > this.lastExpandEndAt && now - this.lastExpandEndAt < this.opts.expandIdleMs);
    if (inserting && !this.loopHasRoom() && this.log.pendingEvents < this.opts.maxPendingEvents / 2) {
      this.defer(this.opts.expandIdleMs);
      return;
    }
    try {
      const more = this.log.expandChunk(this.opts.expandChunkEvents).more;
      this.lastExpandEndAt = performance.now();
      this.expandMsInWindow += this.lastExpandEndAt - now;
      if (more) this.schedule();
    } catch (err) {
      this.opts.onBackgroundError?.(err);
      this.defer(this.opts.expandRetryMs);
    }
  }

  /**
   * Whether the event loop spent less than half of the last window (at least `expandIdleMs`)
   * on work other than expansion: then expansion can run without starving ingest.
   */
  private loopHasRoom(): boolean {
    const mark = performance.eventLoopUtilization();
    const d = performance.eventLoopUtilization(mark, this.eluMark);
    const windowMs = d.idle + d.active;
    if (windowMs >= this.opts.expandIdleMs) {
      this.room = Math.max(0, d.active - this.expandMsInWindow) / windowMs < 0.5;
      this.eluMark = mark;
      this.expandMsInWindow = 0;
    }
    return this.room;
  }

  private defer(ms: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.schedule();
    }, ms);
    this.timer.unref();
  }
}
