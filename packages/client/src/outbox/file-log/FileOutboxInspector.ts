import { promises as fs } from 'node:fs';
import path from 'node:path';
import { OutboxIoError, OutboxNotFoundError } from '../errors.js';
import type { DeadLetter, OutboxLimits, OutboxSize } from '../outbox.js';
import { checkStateKey } from '../stateValue.js';
import { DeadLetterFile } from './DeadLetterFile.js';
import { DirectoryLock } from './DirectoryLock.js';
import { FILE_OUTBOX_DEFAULTS } from './options.js';
import { readSavedLimits } from './outboxInfo.js';
import { SegmentIndex } from './SegmentIndex.js';
import {
  DEAD_LETTER_FILE,
  DEAD_LETTER_LOCK_FILE,
  DELIVERY_LOCK_FILE,
  STATE_DIR,
  isOutboxFileName,
} from './segmentFiles.js';
import { StateFiles } from './StateFiles.js';

/** Who delivers from the outbox now: the holder of `delivery.lock`. */
export interface DeliveryLockInfo {
  readonly pid: number | null;
  readonly host: string | null;
  /** How long ago the holder last refreshed its heartbeat. */
  readonly heartbeatAgeMs: number;
  /** Its owner is gone or its heartbeat too old: the next process to deliver takes it over. */
  readonly stale: boolean;
}

const EXPECTED_FILES =
  'outbox.json, cursor.json, dead-letters.log or segment files named <time>-<pid>-<id>.log / .open';

/**
 * A read-only view of a file outbox directory, for tools (`homing status`, `homing dead-letters`):
 * it takes no lock, cuts no torn tail, adopts no segment, drops nothing (no limits apply), and
 * writes no file. What it reports can lag a process writing at the same moment; what the holder
 * would drop (expired, damaged) is still counted until the holder drops it.
 */
export class FileOutboxInspector {
  private readonly index: SegmentIndex;
  private readonly deadLetters: DeadLetterFile;
  private readonly state: StateFiles;
  private readonly lock: DirectoryLock;
  private readonly damage = { ranges: 0, bytes: 0 };
  private readonly unreadable = new Map<string, string>();

  private constructor(readonly directory: string) {
    const staleMs = FILE_OUTBOX_DEFAULTS.staleMs;
    this.index = new SegmentIndex({
      directory,
      holder: false,
      retentionMs: 0,
      now: Date.now,
      staleMs,
      fsync: false,
      recentBytes: 0,
      isOwn: () => false,
      onDrop: () => {},
      onDamageSeen: (ranges, bytes) => {
        this.damage.ranges += ranges;
        this.damage.bytes += bytes;
      },
      onUnreadable: (file, error) => void this.unreadable.set(file, String(error)),
    });
    this.deadLetters = new DeadLetterFile({
      file: path.join(directory, DEAD_LETTER_FILE),
      lockFile: path.join(directory, DEAD_LETTER_LOCK_FILE),
      maxDeadLetters: Number.MAX_SAFE_INTEGER,
      maxDeadLetterBytes: Number.MAX_SAFE_INTEGER,
      fsync: false,
      staleMs,
      onDrop: () => {},
    });
    this.state = new StateFiles(path.join(directory, STATE_DIR), { fsync: false });
    // The CLI waits for what it inspects: a watch of the lock keeps it alive.
    this.lock = new DirectoryLock(path.join(directory, DELIVERY_LOCK_FILE), {
      staleMs,
      keepAliveWhileWatching: true,
    });
  }

  /**
   * Opens `directory` for inspection; rejects with `OutboxNotFoundError` when it is missing, not a
   * directory, or holds none of the outbox's own files (so a typo is never taken for an empty outbox).
   */
  static async open(directory: string): Promise<FileOutboxInspector> {
    const resolved = path.resolve(directory);
    let names: string[];
    try {
      names = await fs.readdir(resolved);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new OutboxNotFoundError(resolved, 'the directory does not exist');
      if (code === 'ENOTDIR') throw new OutboxNotFoundError(resolved, 'not a directory');
      // There may well be an outbox there (permission denied): not the same as none.
      throw new OutboxIoError(`reading ${resolved}`, { cause: error });
    }
    if (!names.some(isOutboxFileName)) {
      throw new OutboxNotFoundError(
        resolved,
        `it holds none of an outbox's files (expected ${EXPECTED_FILES})`,
      );
    }
    return new FileOutboxInspector(resolved);
  }

  /** Pending events as on disk now (claimed ones included), and the dead letters. */
  async size(): Promise<OutboxSize> {
    await this.index.refresh();
    return {
      events: this.index.events,
      bytes: this.index.bytes,
      oldestTimestampMs: await this.index.oldestTimestamp(),
      deadLetters: await this.deadLetters.count(),
    };
  }

  /**
   * Damaged ranges (failed checksums, torn frames in finished segments) seen by `size()` so far:
   * skipped here, and cut and counted 'corrupt' by the next process that delivers.
   */
  damaged(): { ranges: number; bytes: number } {
    return { ...this.damage };
  }

  /** Segment files `size()` could not read at all (skipped; their events are not counted). */
  unreadableSegments(): Array<{ file: string; error: string }> {
    return [...this.unreadable].map(([file, error]) => ({ file, error }));
  }

  /** Damaged ranges of the dead-letter file, which `listDeadLetters` skips (a replay cuts them). */
  deadLetterDamage(): Promise<{ ranges: number; bytes: number }> {
    return this.deadLetters.damage();
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return this.deadLetters.list(max);
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    checkStateKey(key);
    return (await this.state.get(key)) as T | undefined;
  }

  /** The limits the app last opened the outbox with (`outbox.json`), or undefined if none are saved. */
  savedLimits(): Promise<OutboxLimits | undefined> {
    return readSavedLimits(this.directory);
  }

  /** The process delivering from this outbox now, or null when nobody holds the delivery lock. */
  async deliveryLock(): Promise<DeliveryLockInfo | null> {
    // Confirmed: a flush must not refuse to run beside an owner that is stopped or hung, nor
    // status call it delivering (the wait comes only with a heartbeat older than staleMs).
    const seen = await this.lock.inspect({ confirm: true });
    if (seen === null) return null;
    return {
      pid: seen.owner?.pid ?? null,
      host: seen.owner?.host ?? null,
      heartbeatAgeMs: seen.heartbeatAgeMs,
      stale: seen.stale,
    };
  }
}
