import { Buffer } from 'node:buffer';
import { type Stats, constants, promises as fs } from 'node:fs';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { OutboxIoError } from '../errors.js';
import type { DeadLetter, DropReason, OutboxRecord } from '../outbox.js';
import { writeFileAtomic } from './atomicFile.js';
import { moveAsideIfNotAFile, OWN_FILE_ONLY } from './notOurs.js';
import { PRIVATE_FILE_MODE } from './privateModes.js';
import { DirectoryLock } from './DirectoryLock.js';
import {
  type EncodableRecord,
  type FrameHeader,
  HEADER_BYTES,
  decodePayload,
  encodeFrames,
  frameLength,
  readHeader,
} from './frame.js';
import { type DamagedRange, scanSegment } from './segmentScan.js';

/** An append through a symlink went into its target, a file elsewhere (see `OWN_FILE_ONLY`). */
const READ_FLAGS = constants.O_RDONLY | OWN_FILE_ONLY;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | OWN_FILE_ONLY;

/**
 * The dead-letter store of the file outbox: one file of frames (same framing and checksums as
 * the segments), capped at `maxDeadLetters` and at `maxDeadLetterBytes` of file (oldest dropped
 * first, counted 'overflow'). Dead letters are few and rarely touched, so changes other than an
 * append rewrite the file atomically. An append past a cap drops the oldest down to 90 % of it
 * in that rewrite, so that the appends after it go in place again instead of each rewriting the
 * whole file; and an append does not read the file: what it needs (`Summary`) is kept while the
 * file's signature stays the same. A short lock of its own serialises processes (a CLI replaying
 * while a service dead-letters), and a promise chain in front of it the callers of one process:
 * the file lock answers "held" to a second caller of the instance that holds it, and whichever
 * left first would delete it under the other (a replay rewriting the file from a list read before
 * a dead-letter append, losing the append). A torn tail (a crash or a full disk in the middle of
 * an append) is cut before the next append, as in segments, and counted 'corrupt': appended
 * after it, the next frame would be swallowed by the torn frame's length.
 *
 * A dead letter whose uuid the store holds already is not added again: a process that died
 * after storing dead letters and before its queue's cursor recorded them gone (the cursor is
 * saved later) claimed them again in its next run, and they were listed, and replayed, twice.
 * The uuids come with the summary (read from the frames' headers when the file is scanned), so
 * checking them costs an append no read.
 */
export interface DeadLetterFileOptions {
  readonly file: string;
  readonly lockFile: string;
  readonly maxDeadLetters: number;
  /** The file's size at most. */
  readonly maxDeadLetterBytes: number;
  readonly fsync: boolean;
  readonly staleMs: number;
  /**
   * Dead letters lost for good: damaged ('corrupt', bytes of file) or over a cap ('overflow',
   * bytes of event JSON, as the queue's overflow counts them).
   */
  readonly onDrop: (reason: DropReason, count: number, bytes?: number) => void;
}

/** Adds dead letters; only valid inside the `locked` section that handed it out. */
export type AddDeadLetters = (
  records: readonly OutboxRecord[],
  reason: string,
  atMs: number,
) => Promise<void>;

/**
 * What an append needs to know of the file, kept so that it does not read the file each time.
 * Valid while the file's signature is the one it was taken with: another process or instance
 * writing changes it (an append its size, a rewrite its inode), and writers hold the lock, so
 * checked under the lock it tells whether the file is still the one described.
 */
interface Summary {
  readonly signature: string;
  /** Intact dead letters. */
  readonly count: number;
  /** The file's size. */
  readonly bytes: number;
  /** Damage the next append must cut, rewriting the file (see the class comment). */
  readonly damaged: boolean;
  /** Something other than a file in its place (a directory, a symlink, a FIFO): moved aside before writing. */
  readonly inTheWay: boolean;
  /** The uuids of the intact dead letters: an append skips these (see the class comment). */
  readonly uuids: Set<string>;
}

interface Stored {
  readonly entries: DeadLetter[];
  readonly damaged: readonly DamagedRange[];
}

/** A dead letter as its frame holds it. */
interface Entry {
  readonly uuid: string;
  readonly json: string;
  readonly reason: string;
  readonly at: number;
}

export class DeadLetterFile {
  private readonly lock: DirectoryLock;
  private cached: Summary | null = null;
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
    try {
      await this.appendOrTrim(added);
    } catch (error) {
      // What reached the file is unknown: the next look reads it.
      this.cached = null;
      throw error;
    }
  }

  private async appendOrTrim(records: readonly DeadLetter[]): Promise<void> {
    // Under the lock: a summary with the file's signature still describes the file.
    let summary = this.cached;
    if (summary?.signature !== (await this.signature())) summary = (await this.scan(false, () => {})).summary;
    const added = notStoredYet(records, summary.uuids);
    if (added.length === 0) return;
    const frames = deadLetterFrames(added);
    const buffer = encodeFrames(frames).buffer;
    if (
      summary.damaged ||
      summary.count + added.length > this.o.maxDeadLetters ||
      summary.bytes + buffer.length > this.o.maxDeadLetterBytes
    ) {
      await this.trim(added, frames, buffer);
      return;
    }
    if (summary.inTheWay) await this.moveAsideIfNotAFile();
    const handle = await fs.open(this.o.file, APPEND_FLAGS, PRIVATE_FILE_MODE);
    try {
      const { bytesWritten } = await handle.write(buffer);
      if (this.o.fsync) await handle.datasync();
      const st = await handle.stat();
      // A short write left a torn frame, for the next append to cut once it has read the file.
      if (bytesWritten === buffer.length && st.size === summary.bytes + buffer.length) {
        for (const d of added) summary.uuids.add(d.record.uuid);
        this.cached = {
          ...summary,
          signature: signatureOf(st),
          count: summary.count + added.length,
          bytes: st.size,
        };
      } else {
        this.cached = null;
      }
    } finally {
      await handle.close();
    }
  }

  /**
   * Rewrites the file with `added` (as `frames`, encoded in `buffer`) after what it holds,
   * without damaged frames and, past a cap, without the oldest, down to 90 % of each cap:
   * rewriting the whole file at every append once at a cap was what made dead-lettering slow to
   * a crawl. The frames kept are copied as read, not decoded and encoded again, which cost more
   * than the I/O.
   */
  private async trim(
    added: readonly DeadLetter[],
    frames: readonly EncodableRecord[],
    buffer: Buffer,
  ): Promise<void> {
    const size = await fs.stat(this.o.file).then(
      (st) => st.size,
      () => 0,
    );
    let out = Buffer.allocUnsafe(size + buffer.length);
    let end = 0;
    /** Where each dead letter starts in `out`, the stored ones then the added; and its uuid. */
    const starts: number[] = [];
    const uuids: string[] = [];
    const { damaged } = await this.scan(false, (header, buf, at) => {
      uuids.push(uuidAt(buf, at, header));
      // Only if the file grew during the scan, which the lock rules out.
      if (end + header.frameBytes + buffer.length > out.length) {
        out = Buffer.concat([out.subarray(0, end)], 2 * (end + header.frameBytes + buffer.length));
      }
      buf.copy(out, end, at, at + header.frameBytes);
      starts.push(end);
      end += header.frameBytes;
    });
    const stored = starts.length;
    buffer.copy(out, end);
    for (const frame of frames) {
      starts.push(end);
      uuids.push(frame.uuid);
      end += frameLength(frame);
    }
    const { maxDeadLetters, maxDeadLetterBytes } = this.o;
    let drop = 0;
    if (starts.length > maxDeadLetters || end > maxDeadLetterBytes) {
      // max - max/10 rounded down keeps a small cap whole (2 stays 2).
      const keepCount = maxDeadLetters - Math.floor(maxDeadLetters / 10);
      const keepBytes = maxDeadLetterBytes - Math.floor(maxDeadLetterBytes / 10);
      while (drop < starts.length && (starts.length - drop > keepCount || end - starts[drop]! > keepBytes)) {
        drop++;
      }
    }
    await this.rewrite(out.subarray(drop < starts.length ? starts[drop] : end, end), uuids.slice(drop));
    this.countDamaged(damaged);
    if (drop > 0) {
      let droppedBytes = 0;
      for (let i = 0; i < drop; i++) {
        droppedBytes +=
          i < stored ? eventBytesAt(out, starts[i]!) : Buffer.byteLength(added[i - stored]!.record.json);
      }
      this.o.onDrop('overflow', drop, droppedBytes);
    }
  }

  async list(limit = Infinity): Promise<DeadLetter[]> {
    const all = (await this.read()).entries;
    return Number.isFinite(limit) ? all.slice(0, Math.max(0, limit)) : all;
  }

  /** The damaged ranges a list skips (cut, and counted 'corrupt', at the next take or rewrite). */
  async damage(): Promise<{ ranges: number; bytes: number }> {
    const { damaged } = await this.read();
    let bytes = 0;
    for (const d of damaged) bytes += d.end - d.start;
    return { ranges: damaged.length, bytes };
  }

  async count(): Promise<number> {
    const signature = await this.signature();
    if (this.cached?.signature === signature) return this.cached.count;
    return (await this.scan(false, () => {})).summary.count;
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
      const rest = all.filter((d) => !used.has(d));
      await this.rewrite(
        encodeFrames(deadLetterFrames(rest)).buffer,
        rest.map((d) => d.record.uuid),
      );
      this.countDamaged(damaged);
      return used.size;
    });
  }

  /** The intact dead letters, and the damaged ranges (a torn tail among them) skipped on the way. */
  private async read(): Promise<Stored> {
    const entries: DeadLetter[] = [];
    const { damaged } = await this.scan(true, (header, _buf, _at, entry) => {
      const { uuid, json, reason, at } = entry!;
      entries.push({ record: { uuid, json, timestampMs: header.timestampMs }, reason, deadLetteredAtMs: at });
    });
    return { entries, damaged };
  }

  /**
   * Calls `onEntry` for each intact dead letter, oldest first (`buf[at]` is where its frame
   * starts; `entry` is it decoded, with `decode`), answers the damaged ranges skipped on the way,
   * and keeps the file's summary. Its signature is taken before the read, from the handle read: a
   * write by another process during a read without the lock leaves a summary that no longer
   * matches the file, never a stale one that does.
   */
  private async scan(
    decode: boolean,
    onEntry: (header: FrameHeader, buf: Buffer, at: number, entry: Entry | undefined) => void,
  ): Promise<{ damaged: readonly DamagedRange[]; summary: Summary }> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.o.file, READ_FLAGS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ELOOP: a symlink; ENXIO: a socket (what opening one answers), which failed every dead
      // letter (they stayed claimed and came back forever) where links and FIFOs were moved aside.
      if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'ENXIO') throw error;
      const inTheWay = code !== 'ENOENT';
      const signature = inTheWay ? await this.signature() : 'none';
      const summary = { signature, count: 0, bytes: 0, damaged: false, inTheWay, uuids: new Set<string>() };
      this.cached = summary;
      return { damaged: [], summary };
    }
    let count = 0;
    const uuids = new Set<string>();
    let summary: Summary;
    let damaged: readonly DamagedRange[] = [];
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        // Outside damage, not dead letters: read as none (a writer moves it aside first).
        summary = { signature: signatureOf(st), count: 0, bytes: 0, damaged: false, inTheWay: true, uuids };
      } else {
        const scanned = await scanSegment(
          handle,
          { from: 0, sealed: true, verifyPayload: true },
          (_offset, header, buf, at) => {
            // A frame that passed its checksum but is not ours is skipped. Told apart without
            // decoding when the dead letters are only counted or copied: decoding every one
            // (up to 512 KiB of JSON each) was most of the cost of a trim.
            let entry: Entry | undefined;
            if (decode) {
              entry = decodeEntry(buf, at, header);
              if (entry === undefined) return;
            } else if (!looksLikeDeadLetter(buf, at, header)) {
              return;
            }
            count++;
            uuids.add(entry?.uuid ?? uuidAt(buf, at, header));
            onEntry(header, buf, at, entry);
          },
        );
        damaged = scanned.damaged;
        summary = {
          signature: signatureOf(st),
          count,
          // The size the scan saw: past the signature's, a write came in meanwhile, and the
          // signature no longer matches anyway.
          bytes: scanned.fileSize,
          damaged: damaged.length > 0,
          inTheWay: false,
          uuids,
        };
      }
    } finally {
      await handle.close();
    }
    this.cached = summary;
    return { damaged, summary };
  }

  /** Damaged frames are gone once the file is rewritten without them: one record each. */
  private countDamaged(damaged: readonly DamagedRange[]): void {
    if (damaged.length === 0) return;
    let bytes = 0;
    for (const d of damaged) bytes += d.end - d.start;
    this.o.onDrop('corrupt', damaged.length, bytes);
  }

  /** Replaces the file with `buffer`, the frames of the dead letters with these `uuids`. */
  private async rewrite(buffer: Buffer, uuids: readonly string[]): Promise<void> {
    await this.moveAsideIfNotAFile();
    this.cached = null;
    await writeFileAtomic(this.o.file, buffer, { fsync: this.o.fsync });
    const st = await fs.stat(this.o.file);
    this.cached = {
      signature: signatureOf(st),
      count: uuids.length,
      bytes: st.size,
      damaged: false,
      inTheWay: false,
      uuids: new Set(uuids),
    };
  }

  /**
   * A directory in the store's place would refuse every dead letter (they would stay claimed and
   * come back forever), a symlink's target is not ours to write, a FIFO or a socket would take
   * them nowhere: moved aside, never deleted (it is not ours).
   */
  private async moveAsideIfNotAFile(): Promise<void> {
    await moveAsideIfNotAFile(this.o.file);
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
      // The entry's own (lstat): what `scan` reads, which never follows a symlink.
      return signatureOf(await fs.lstat(this.o.file));
    } catch {
      return 'none';
    }
  }
}

/** Every dead letter's JSON starts so (`deadLetterFrames`), whatever its reason. */
const DEAD_LETTER_START = Buffer.from('{"reason":');

function looksLikeDeadLetter(buf: Buffer, at: number, header: FrameHeader): boolean {
  const start = at + HEADER_BYTES + header.uuidBytes;
  return (
    header.jsonBytes >= DEAD_LETTER_START.length &&
    buf.compare(DEAD_LETTER_START, 0, DEAD_LETTER_START.length, start, start + DEAD_LETTER_START.length) === 0
  );
}

/** The uuid in the frame at `buf[at]`, read without decoding its JSON. */
function uuidAt(buf: Buffer, at: number, header: FrameHeader): string {
  const start = at + HEADER_BYTES;
  return buf.toString('utf8', start, start + header.uuidBytes);
}

/** `letters` but those whose uuid is in `stored`, or came earlier in `letters`. */
function notStoredYet(letters: readonly DeadLetter[], stored: ReadonlySet<string>): DeadLetter[] {
  const seen = new Set<string>();
  return letters.filter((d) => {
    const uuid = d.record.uuid;
    if (stored.has(uuid) || seen.has(uuid)) return false;
    seen.add(uuid);
    return true;
  });
}

/** The dead letter in the frame at `buf[at]`, or undefined when the frame holds something else. */
function decodeEntry(buf: Buffer, at: number, header: FrameHeader): Entry | undefined {
  const { uuid, json } = decodePayload(buf, at, header);
  let entry: { reason?: unknown; at?: unknown; json?: unknown };
  try {
    entry = JSON.parse(json) as typeof entry;
  } catch {
    return undefined;
  }
  if (typeof entry.json !== 'string') return undefined;
  return {
    uuid,
    json: entry.json,
    reason: String(entry.reason ?? ''),
    at: typeof entry.at === 'number' ? entry.at : 0,
  };
}

/** The UTF-8 bytes of the event JSON of the dead letter whose frame starts at `buf[at]`. */
function eventBytesAt(buf: Buffer, at: number): number {
  const header = readHeader(buf, at);
  const entry = header === null ? undefined : decodeEntry(buf, at, header);
  return entry === undefined ? 0 : Buffer.byteLength(entry.json);
}

function signatureOf(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}`;
}

function deadLetterFrames(entries: readonly DeadLetter[]): EncodableRecord[] {
  return entries.map((d) => {
    const json = JSON.stringify({ reason: d.reason, at: d.deadLetteredAtMs, json: d.record.json });
    return {
      uuid: d.record.uuid,
      json,
      timestampMs: d.record.timestampMs,
      uuidBytes: Buffer.byteLength(d.record.uuid),
      jsonBytes: Buffer.byteLength(json),
    };
  });
}
