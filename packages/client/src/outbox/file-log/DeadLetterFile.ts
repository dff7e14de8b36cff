import { Buffer } from 'node:buffer';
import { promises as fs } from 'node:fs';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { OutboxIoError } from '../errors.js';
import type { DeadLetter, DropReason, OutboxRecord } from '../outbox.js';
import { writeFileAtomic } from './atomicFile.js';
import { PRIVATE_FILE_MODE } from './privateModes.js';
import { DirectoryLock } from './DirectoryLock.js';
import { decodePayload, encodeFrames } from './frame.js';
import { type DamagedRange, scanSegment } from './segmentScan.js';

/**
 * The dead-letter store of the file outbox: one file of frames (same framing and checksums as
 * the segments), capped at `maxDeadLetters` (oldest dropped first, counted 'overflow'). Dead
 * letters are few and rarely touched, so changes other than an append rewrite the file
 * atomically. A short lock of its own serialises processes (a CLI replaying while a service
 * dead-letters), and a promise chain in front of it the callers of one process: the file lock
 * answers "held" to a second caller of the instance that holds it, and whichever left first
 * would delete it under the other (a replay rewriting the file from a list read before a
 * dead-letter append, losing the append). A torn tail (a crash or a full disk in the middle of an append) is cut before
 * the next append, as in segments, and counted 'corrupt': appended after it, the next frame
 * would be swallowed by the torn frame's length.
 */
export interface DeadLetterFileOptions {
  readonly file: string;
  readonly lockFile: string;
  readonly maxDeadLetters: number;
  readonly fsync: boolean;
  readonly staleMs: number;
  /** Dead letters lost for good: damaged ('corrupt') or over `maxDeadLetters` ('overflow'). */
  readonly onDrop: (reason: DropReason, count: number, bytes?: number) => void;
}

/** Adds dead letters; only valid inside the `locked` section that handed it out. */
export type AddDeadLetters = (
  records: readonly OutboxRecord[],
  reason: string,
  atMs: number,
) => Promise<void>;

export class DeadLetterFile {
  private readonly lock: DirectoryLock;
  private cachedCount: { signature: string; count: number } | null = null;
  /** The sections of this process, one after another (see the class comment). */
  private tail: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly monotonicNow = monotonicClock();
  /** Ends the wait for another process's lock at once (set while waiting). */
  private wake: (() => void) | null = null;

  constructor(private readonly o: DeadLetterFileOptions) {
    this.lock = new DirectoryLock(o.lockFile, { staleMs: o.staleMs });
  }

  /**
   * The outbox is closing: a wait for another process's lock ends now (rejecting as a lock that
   * stayed taken does), rather than holding a shutdown, or the process, for up to a minute.
   */
  stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    // Resolves once the section under way (its wait ends at its next look) has let go.
    return this.tail.then(() => undefined);
  }

  async add(records: readonly OutboxRecord[], reason: string, atMs: number): Promise<void> {
    await this.locked((add) => add(records, reason, atMs));
  }

  /**
   * Runs `fn` with the store to itself (after this process's other sections, under the file
   * lock); `fn` adds dead letters through `add`. Not reentrant: `fn` must not wait for `add`,
   * `take` or `locked`. Rejects with `OutboxIoError('dead-letter lock')` when the lock stays
   * taken by another process; `fn` has not run then.
   */
  locked<T>(fn: (add: AddDeadLetters) => Promise<T>): Promise<T> {
    return this.withLock(() => fn((records, reason, atMs) => this.append(records, reason, atMs)));
  }

  private async append(records: readonly OutboxRecord[], reason: string, atMs: number): Promise<void> {
    if (records.length === 0) return;
    const added = records.map((record) => ({ record, reason, deadLetteredAtMs: atMs }));
    const stored = await this.read();
    const excess = stored.entries.length + added.length - this.o.maxDeadLetters;
    if (excess > 0 || stored.damaged.length > 0) {
      // Rewritten whole: the oldest over the cap and damaged frames are left out.
      await this.rewrite([...stored.entries, ...added].slice(Math.max(0, excess)));
      this.countDamaged(stored.damaged);
      this.o.onDrop('overflow', Math.max(0, excess));
      return;
    }
    await this.moveAsideIfDirectory();
    const handle = await fs.open(this.o.file, 'a', PRIVATE_FILE_MODE);
    try {
      await handle.write(encodeDeadLetters(added).buffer);
      if (this.o.fsync) await handle.datasync();
    } finally {
      await handle.close();
    }
  }

  async list(limit = Infinity): Promise<DeadLetter[]> {
    const all = (await this.read()).entries;
    return Number.isFinite(limit) ? all.slice(0, Math.max(0, limit)) : all;
  }

  async count(): Promise<number> {
    const signature = await this.signature();
    if (this.cachedCount?.signature === signature) return this.cachedCount.count;
    const count = (await this.read()).entries.length;
    this.cachedCount = { signature, count };
    return count;
  }

  /**
   * Takes the dead letters with these uuids (all when undefined): `use` runs first (e.g. puts
   * them back in the queue, durably) and answers which of them it used; only those are then
   * removed, so a crash in between keeps them (at worst they are both queued and still listed),
   * and one the queue did not accept stays a dead letter. Answers how many were removed.
   */
  async take(
    uuids: readonly string[] | undefined,
    use: (taken: DeadLetter[]) => Promise<readonly DeadLetter[]>,
  ): Promise<number> {
    const wanted =
      uuids === undefined
        ? null
        : new Set(Array.isArray(uuids) ? uuids.filter((u) => typeof u === 'string') : []);
    return this.withLock(async () => {
      const { entries: all, damaged } = await this.read();
      const taken = all.filter((d) => wanted === null || wanted.has(d.record.uuid));
      if (taken.length === 0) return 0;
      const used = new Set(await use(taken));
      if (used.size === 0) return 0;
      await this.rewrite(all.filter((d) => !used.has(d)));
      this.countDamaged(damaged);
      return used.size;
    });
  }

  /** The intact dead letters, and the damaged ranges (a torn tail among them) skipped on the way. */
  private async read(): Promise<{ entries: DeadLetter[]; damaged: readonly DamagedRange[] }> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.o.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], damaged: [] };
      throw error;
    }
    if ((await handle.stat()).isDirectory()) {
      // Outside damage, not dead letters: read as none (a writer moves it aside first).
      await handle.close();
      return { entries: [], damaged: [] };
    }
    const out: DeadLetter[] = [];
    let damaged: readonly DamagedRange[];
    try {
      ({ damaged } = await scanSegment(
        handle,
        { from: 0, sealed: true, verifyPayload: true },
        (_offset, header, buf, at) => {
          const { uuid, json } = decodePayload(buf, at, header);
          try {
            const entry = JSON.parse(json) as { reason?: unknown; at?: unknown; json?: unknown };
            if (typeof entry.json !== 'string') return;
            out.push({
              record: { uuid, json: entry.json, timestampMs: header.timestampMs },
              reason: String(entry.reason ?? ''),
              deadLetteredAtMs: typeof entry.at === 'number' ? entry.at : 0,
            });
          } catch {
            // A frame that passed its checksum but is not ours: skip it.
          }
        },
      ));
    } finally {
      await handle.close();
    }
    return { entries: out, damaged };
  }

  /** Damaged frames are gone once the file is rewritten without them: one record each. */
  private countDamaged(damaged: readonly DamagedRange[]): void {
    if (damaged.length === 0) return;
    let bytes = 0;
    for (const d of damaged) bytes += d.end - d.start;
    this.o.onDrop('corrupt', damaged.length, bytes);
  }

  private async rewrite(entries: readonly DeadLetter[]): Promise<void> {
    await this.moveAsideIfDirectory();
    await writeFileAtomic(this.o.file, encodeDeadLetters(entries).buffer, { fsync: this.o.fsync });
  }

  /**
   * A directory in the store's place would refuse every dead letter (they would stay claimed and
   * come back forever): moved aside, never deleted (it is not ours).
   */
  private async moveAsideIfDirectory(): Promise<void> {
    const isDirectory = await fs.stat(this.o.file).then(
      (st) => st.isDirectory(),
      () => false,
    );
    if (isDirectory) await fs.rename(this.o.file, `${this.o.file}.${Date.now()}.in-the-way`);
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.withFileLock(fn));
    this.tail = run.catch(() => {});
    return run;
  }

  private async withFileLock<T>(fn: () => Promise<T>): Promise<T> {
    // Monotonic: a wall clock stepped back during the wait would stretch it by the step.
    const deadline = this.monotonicNow() + Math.max(5000, this.o.staleMs * 2);
    for (let attempt = 0; !(await this.lock.tryAcquire()); attempt++) {
      if (this.monotonicNow() > deadline || this.stopped) {
        throw new OutboxIoError('dead-letter lock', {
          cause: new Error('dead-letter store is locked by another process'),
        });
      }
      // Backing off (10 ms, doubling to 500 ms): a holder busy for long is not polled 50 times
      // a second. Unref'd, as waiting for another process is no reason to keep this one alive;
      // `stop()` wakes it, so a close waiting for this section never waits on that timer.
      const delayMs = Math.min(500, 10 * 2 ** attempt) * (0.5 + Math.random() / 2);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        (timer as { unref?: () => void }).unref?.();
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    try {
      return await fn();
    } finally {
      await this.lock.release();
    }
  }

  private async signature(): Promise<string> {
    try {
      const st = await fs.stat(this.o.file);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'none';
    }
  }
}

function encodeDeadLetters(entries: readonly DeadLetter[]): { buffer: Buffer } {
  return encodeFrames(
    entries.map((d) => {
      const json = JSON.stringify({ reason: d.reason, at: d.deadLetteredAtMs, json: d.record.json });
      return {
        uuid: d.record.uuid,
        json,
        timestampMs: d.record.timestampMs,
        uuidBytes: Buffer.byteLength(d.record.uuid),
        jsonBytes: Buffer.byteLength(json),
      };
    }),
  );
}
