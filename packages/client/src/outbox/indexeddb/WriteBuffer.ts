import type { Logger } from '../../logger.js';
import type { OutboxLimits, OutboxRecord } from '../outbox.js';
import type { DropListeners } from '../records.js';
import { normalizeRecord, utf8Length } from '../records.js';

export interface Pending {
  readonly record: OutboxRecord;
  readonly bytes: number;
}

export interface WriteBufferOptions {
  readonly persistIntervalMs: number;
  readonly flushEvents: number;
  readonly limits: OutboxLimits;
  /** The time retention ages records as of (`retentionClock`). */
  readonly retentionNow: () => number;
  readonly drops: DropListeners;
  readonly logger: Logger;
  /** Where the buffer's storage is named in log lines. */
  readonly storageName: string;
  /** Writes one group; throwing keeps the group for the next try. */
  readonly write: (group: Pending[]) => Promise<void>;
  /** While true, a failed write is kept all the same but not reported: the records go elsewhere. */
  readonly quiet?: () => boolean;
}

/**
 * What makes `append` synchronous in the browser outboxes: records wait here and are written
 * as one group within `persistIntervalMs` (at once when `flushEvents` wait), one group at a time.
 * A group that fails to write comes back in front, still bounded by the limits, so a storage
 * that stays broken cannot make the buffer grow without end.
 */
export class WriteBuffer {
  private pending: Pending[] = [];
  /** The group a write has taken and not finished. */
  private inWrite: Pending[] = [];
  /** Groups `takeUnwritten` took from the write they were handed to. */
  private readonly taken = new WeakSet<readonly Pending[]>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** A flush is queued and has not taken its group yet: appends until then join that group. */
  private queued: Promise<void> | undefined;
  /** No more timers (closed); `flush()` still writes. */
  stopped = false;

  constructor(private readonly options: WriteBufferOptions) {}

  get length(): number {
    return this.pending.length;
  }

  /**
   * Checks and buffers what `append` was given (never throws); what cannot be kept at all is
   * counted at once: not a record (`corrupt`), over `maxBytes` alone, already past retention.
   * Answers what was buffered.
   */
  accept(records: readonly OutboxRecord[], nowMs: number): Pending[] {
    if (!Array.isArray(records) || records.length === 0) return [];
    const accepted: Pending[] = [];
    const { limits, drops } = this.options;
    let invalid = 0;
    let tooLarge = 0;
    let expired = 0;
    const agedAtMs = limits.retentionMs > 0 ? this.options.retentionNow() : nowMs;
    for (const value of records) {
      const record = normalizeRecord(value, nowMs);
      if (record === null) invalid++;
      else if (isExpired(limits, record.timestampMs, agedAtMs)) expired++;
      else {
        const bytes = utf8Length(record.json);
        if (bytes > limits.maxBytes) tooLarge++;
        else accepted.push({ record, bytes });
      }
    }
    for (const p of accepted) this.pending.push(p);
    drops.emit('corrupt', invalid);
    drops.emit('too-large', tooLarge);
    drops.emit('retention', expired);
    return accepted;
  }

  /** Starts the timer for what was pushed (or writes at once past `flushEvents`). */
  schedule(): void {
    if (this.pending.length === 0 || this.stopped) return;
    if (this.pending.length >= this.options.flushEvents) {
      void this.flush();
      return;
    }
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.options.persistIntervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Writes what is buffered now, after any write already running; resolves when written. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queued !== undefined) return this.queued;
    const run = this.writing.then(() => {
      this.queued = undefined;
      return this.writeNow();
    });
    this.queued = run;
    this.writing = run.catch((error: unknown) => {
      if (this.options.quiet?.() === true) return;
      this.options.logger.error(`could not write outbox records to ${this.options.storageName}`, { error });
    });
    return run;
  }

  /** Everything not written yet: the group being written, then what waits. */
  unwritten(): Pending[] {
    return this.inWrite.concat(this.pending);
  }

  /** Takes out these records if they are still waiting (not handed to a write); answers those taken out. */
  discard(records: ReadonlySet<Pending>): Set<Pending> {
    const taken = new Set<Pending>();
    if (records.size === 0) return taken;
    this.pending = this.pending.filter((p) => {
      if (!records.has(p)) return true;
      taken.add(p);
      return false;
    });
    return taken;
  }

  /** Takes everything not written yet (for a move to another storage). */
  take(): Pending[] {
    return this.pending.splice(0);
  }

  /**
   * Takes everything not written yet, the group a write is still waiting to write included
   * (localStorage's waits for the delivery lock): for a page going away, which runs nothing
   * after an await. That write then finds the group taken (`wasTaken`) and must skip it.
   */
  takeUnwritten(): Pending[] {
    const inWrite = this.inWrite;
    if (inWrite.length > 0) this.taken.add(inWrite);
    this.inWrite = [];
    return inWrite.concat(this.pending.splice(0));
  }

  /** Whether `takeUnwritten` took this group from the write it was handed to. */
  wasTaken(group: readonly Pending[]): boolean {
    return this.taken.has(group);
  }

  /** A group taken out (`take`) that could not be written after all: back in front, as after a failed write. */
  putBack(group: Pending[]): void {
    this.keep(group);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async writeNow(): Promise<void> {
    if (this.pending.length === 0) return;
    const group = this.pending;
    this.pending = [];
    this.inWrite = group;
    try {
      await this.options.write(group);
    } catch (error) {
      if (!this.taken.has(group)) this.keep(group);
      throw error;
    } finally {
      if (this.inWrite === group) this.inWrite = [];
    }
  }

  private keep(group: Pending[]): void {
    const { limits, drops } = this.options;
    const all = group.concat(this.pending);
    let bytes = 0;
    for (const p of all) bytes += p.bytes;
    let dropped = 0;
    while (all.length > limits.maxEvents || bytes > limits.maxBytes) {
      const gone = limits.overflow === 'drop-oldest' ? all.shift()! : all.pop()!;
      bytes -= gone.bytes;
      dropped++;
    }
    this.pending = all;
    drops.emit('overflow', dropped);
    this.schedule();
  }
}

/**
 * Past the retention limit (0 = kept forever); `nowMs` from the outbox's `retentionNow`, not its
 * wall clock (see `retentionClock.ts`).
 */
export function isExpired(limits: OutboxLimits, timestampMs: number, nowMs: number): boolean {
  return limits.retentionMs > 0 && timestampMs < nowMs - limits.retentionMs;
}
