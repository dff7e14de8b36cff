import path from 'node:path';
import { monotonicClock } from '../../integrations/monotonicClock.js';
import { OutboxClosedError, OutboxError, OutboxIoError } from '../errors.js';
import { checkClaimLimits } from '../memory.js';
import type {
  DeadLetter,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from '../outbox.js';
import { DropListeners } from '../records.js';
import { retentionClock, warnOnRetentionDrops } from '../retentionClock.js';
import { checkStateKey, encodeStateValue } from '../stateValue.js';
import { Admission } from './Admission.js';
import { AppendBuffer, type GroupSummary, type WrittenFrames } from './AppendBuffer.js';
import { ClearRequests } from './ClearRequests.js';
import { removeStaleTempFiles } from './atomicFile.js';
import { DeadLetterFile } from './DeadLetterFile.js';
import { DirectoryLock } from './DirectoryLock.js';
import { FileOutboxInspector } from './FileOutboxInspector.js';
import {
  type FileOutboxOptions,
  type ResolvedFileOutboxOptions,
  resolveFileOutboxOptions,
} from './options.js';
import { writeOutboxInfo, writeOutboxInfoSync } from './outboxInfo.js';
import { QueueHolder } from './QueueHolder.js';
import { requeueDeadLetters } from './requeueDeadLetters.js';
import type { SegmentIndex } from './SegmentIndex.js';
import { moveAsideIfNotAFile, moveAsideIfNotAFileSync } from './notOurs.js';
import {
  DEAD_LETTER_FILE,
  DEAD_LETTER_LOCK_FILE,
  DELIVERY_LOCK_FILE,
  INFO_FILE,
  STATE_DIR,
} from './segmentFiles.js';
import { SegmentWriter, type WrittenGroup } from './SegmentWriter.js';
import { SpaceReserve } from './SpaceReserve.js';
import { StateFiles, moveAsideWhatIsInStatesPlace } from './StateFiles.js';
import { makeDirectory, onDirectoryMade } from './makeDirectory.js';
import { unsafeDirectory } from './ownDirectory.js';
import { UnwrittenClaims } from './UnwrittenClaims.js';
import { KeptFiles } from './KeptFiles.js';

/**
 * How stale a claim's view of other processes' segments may be while this process still has
 * records of its own to send. Reading the directory and every open segment on each claim cost
 * more than the rest of the claim together.
 */
const REFRESH_INTERVAL_MS = 1000;
/** How often a missing space reserve is looked at again (see `SpaceReserve`). */
const RESERVE_CHECK_MS = 30_000;

/**
 * The file outbox: an append-only, segmented log in a directory that several processes may
 * share (a CLI started many times at once, a service and its CLI).
 *
 * Design, and why:
 * - Appends: each outbox instance writes only its own segment files (`<time>-<pid>-<rand>.open`,
 *   sealed to `.log`), so processes never interleave bytes and need no lock to append.
 *   `append()` only queues in memory; grouped writes follow per `durability`.
 * - Every record is framed with its length and CRC-32C (`frame.ts`); damage is found by the
 *   reader and skipped (middle) or cut (tail), reported as drops with reason 'corrupt'.
 * - Claims: one process at a time holds `delivery.lock` (pid + heartbeat, stale locks of dead
 *   processes taken over, `DirectoryLock.ts`). Only the holder claims, acks, drops and deletes,
 *   so no record is ever claimed by two processes. Another process's `claim()` answers null
 *   (its records are on disk and the holder delivers them) until the lock is free: at the
 *   holder's `close()`, its death, or after 5 heartbeats without a claim, ack or release.
 * - The holder indexes segments, not records (`SegmentIndex.ts`): a byte range per claim or
 *   ack, a few numbers per segment. Memory stays flat however many records wait.
 * - Acks: the gone ranges are written to `cursor.json` atomically (temp + rename). A segment
 *   whose records are all gone is deleted, then the cursor is written without it.
 * - `.open` segments of dead processes are adopted by the holder: torn tail cut, sealed.
 * - While writes fail (a full or read-only disk), records still in memory are claimed from there
 *   once nothing on disk is left (`claimUnwritten`), lock or no lock: nobody else can see them.
 *
 * Loss window per durability (what a crash can lose of what `append` accepted):
 * - 'batch': a process crash loses what was appended in the last `persistIntervalMs` (not
 *   yet handed to the OS); a power cut also loses what the OS had not written back.
 * - 'fsync': a crash or power cut loses what was appended since the last group was fsynced,
 *   at most `persistIntervalMs`. Once `persist()` resolves, nothing.
 * - 'memory': everything appended since the last `persist()`/`claim()`/`close()` or full group.
 * At-least-once: an ack lost in a crash sends its batch again; the uuid dedups it downstream.
 */
export class FileOutbox implements Outbox {
  readonly directory: string;
  private readonly o: ResolvedFileOutboxOptions;
  private readonly writer: SegmentWriter;
  private readonly lock: DirectoryLock;
  private readonly holder: QueueHolder;
  private readonly deadLetters: DeadLetterFile;
  private readonly state: StateFiles;
  private readonly clearRequests: ClearRequests;
  private readonly reserve: SpaceReserve;
  /**
   * Elapsed times (idle lock, refresh and reserve intervals) are measured on it: by wall-clock
   * differences, a clock stepped back an hour kept an idle holder's lock, and every other
   * process from delivering, for that hour. `Date.now()` stays where a time is stored or
   * compared with other processes' (file names, mtimes).
   */
  private readonly monotonicNow = monotonicClock();
  /** When (monotonic) the space reserve was last looked at. */
  private reserveCheckedMs = -Infinity;
  private readonly drops = new DropListeners();
  /** The time retention ages events as of: `now`, unless it jumped ahead (`retentionClock`). */
  private readonly retentionNow: () => number;
  private readonly ready: Promise<void>;
  private observer: SegmentIndex | null = null;

  private readonly buffer: AppendBuffer;
  private readonly admission: Admission;
  private readonly heartbeatTimer: ReturnType<typeof setInterval>;
  private serialTail: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;
  /** A `clear()` under way (settles, never rejects); claims wait for it. */
  private clearing: Promise<void> | null = null;
  private closed = false;
  /**
   * Records given up (`unsaved`) since `close()` began: its last write, or an append after it,
   * found no room. A `persist()` after the close then must not answer that all is stored.
   */
  private unsavedSinceClose = 0;
  /** `close()` let the delivery lock go: it is not taken again (see `becomeHolder`). */
  private releasedAtClose = false;
  /** `persistOnExit` ran: the process is ending; later calls write only what was appended since. */
  private exited = false;
  /** Dead-letter moves under way (see `deadLetter`). */
  private deadLettering = 0;
  /** When (monotonic) a claim last looked on disk for what other processes wrote. */
  private lastRefreshMs = -Infinity;
  /** Last claim, ack or release (monotonic); a holder idle for long lets the lock go (see `heartbeat`). */
  private lastDeliveryMs = this.monotonicNow();
  /**
   * Groups on disk that the buffer no longer counts and whose `afterWrite` has not yet run (it
   * waits for the serial section): `size()` counts them (see `framesOf`).
   */
  private readonly landing = new Set<{ written: WrittenGroup; frames: WrittenFrames }>();
  /** Batches claimed from records the disk refused, not yet acked or released (see `claim`). */
  private readonly unwritten: UnwrittenClaims;
  /** `outbox.json` and the client's install id, written again when the directory lost them. */
  private readonly kept: KeptFiles;
  /** Stops hearing of the outbox's directory made again (see `init`). */
  private offDirectoryMade: () => void = () => {};
  /** What was moved aside from where the outbox's own files belong, told once per kind. */
  private readonly movedAsideTold = new Set<string>();

  /**
   * A read-only view of the outbox in `directory` (for tools such as `homing status`): no lock,
   * no cleanup, no limits applied. Rejects with `OutboxNotFoundError` when there is no outbox.
   */
  static inspect(directory: string): Promise<FileOutboxInspector> {
    return FileOutboxInspector.open(directory);
  }

  constructor(options: FileOutboxOptions) {
    this.o = resolveFileOutboxOptions(options);
    this.directory = path.resolve(this.o.directory);
    const fsync = this.o.durability === 'fsync';
    this.retentionNow = retentionClock(this.o.now, this.o.logger);
    warnOnRetentionDrops(this.drops, this.o.logger, this.o.limits.retentionMs);
    this.kept = new KeptFiles({
      save: this.o.saveLimits ? () => this.saveLimitsForTools() : null,
      saveNow: this.o.saveLimits ? () => this.saveLimitsForToolsNow() : null,
      logger: this.o.logger,
      now: this.monotonicNow,
    });
    this.writer = new SegmentWriter({
      directory: this.directory,
      maxSegmentBytes: this.o.maxSegmentBytes,
      fsync,
      staleMs: this.o.staleMs,
    });
    this.lock = new DirectoryLock(path.join(this.directory, DELIVERY_LOCK_FILE), {
      staleMs: this.o.staleMs,
      heartbeatMs: this.o.heartbeatMs,
      keepAliveWhileWatching: this.o.keepAliveWhileWatching,
    });
    this.deadLetters = new DeadLetterFile({
      file: path.join(this.directory, DEAD_LETTER_FILE),
      lockFile: path.join(this.directory, DEAD_LETTER_LOCK_FILE),
      maxDeadLetters: this.o.limits.maxDeadLetters,
      maxDeadLetterBytes: this.o.limits.maxDeadLetterBytes,
      fsync,
      staleMs: this.o.staleMs,
      onDrop: (reason, count, bytes) => this.drops.emit(reason, count, bytes),
    });
    const onMovedAside = (file: string, what: string): void => this.movedAside(file, what);
    this.state = new StateFiles(path.join(this.directory, STATE_DIR), {
      fsync,
      onMovedAside,
    });
    this.clearRequests = new ClearRequests(path.join(this.directory, STATE_DIR), { fsync });
    this.reserve = new SpaceReserve({ directory: this.directory });
    this.holder = new QueueHolder({
      directory: this.directory,
      lock: this.lock,
      limits: this.o.limits,
      now: this.retentionNow,
      staleMs: this.o.staleMs,
      fsync,
      cursorDelayMs: this.o.durability === 'fsync' ? 0 : this.o.persistIntervalMs,
      claimCacheBytes: this.o.claimCacheBytes,
      isOwn: (base) => base === this.writer.activeBase,
      onDrop: (reason, count, bytes) => this.drops.emit(reason, count, bytes),
      onUnreadable: (file, error) =>
        this.o.logger.warn('outbox: a segment cannot be read; its events wait, the others go out', {
          file,
          error: String(error),
        }),
      onVanished: (file, events) =>
        this.o.logger.warn(
          'outbox: a segment holding events was deleted by something other than Homing; its events are lost',
          { file, events },
        ),
      onCursorUnsaved: (error) =>
        this.o.logger.warn(
          'outbox: what was sent cannot be noted in cursor.json; after a restart those events are sent again (the uuid dedups them)',
          { error: String(error) },
        ),
      onMovedAside,
      withRoom: (op) => this.reserve.withRoom(op),
      withRoomSync: (op) => this.reserve.withRoomSync(op),
      clearRequests: this.clearRequests,
      onCleared: () => void this.deleteClearedBytes(),
    });
    this.ready = this.init().catch((error: unknown) => {
      throw new OutboxIoError('open', { cause: error });
    });
    // Failures surface through the operations that await `ready`; never as an unhandled rejection.
    this.ready.catch(() => {});
    this.buffer = new AppendBuffer({
      directory: this.directory,
      durability: this.o.durability,
      persistIntervalMs: this.o.persistIntervalMs,
      flushEvents: this.o.flushEvents,
      flushBytes: this.o.flushBytes,
      maxEvents: this.o.limits.maxEvents,
      maxBytes: this.o.limits.maxBytes,
      writer: this.writer,
      ready: this.ready,
      logger: this.o.logger,
      onWritten: (written, group, frames) => this.afterWrite(written, group, frames),
      onOverflow: (count, bytes) => this.drops.emit('overflow', count, bytes),
      onUnsaved: (count, bytes) => {
        if (this.closing !== null) this.unsavedSinceClose += count;
        this.drops.emit('unsaved', count, bytes);
      },
    });
    this.admission = new Admission({
      limits: this.o.limits,
      now: this.o.now,
      retentionNow: this.retentionNow,
      buffer: this.buffer,
      holder: this.holder,
      drops: this.drops,
    });
    this.unwritten = new UnwrittenClaims(this.buffer, this.drops);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.o.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  /** Not while writes fail (a full disk): what waits in memory then dies with the process. */
  keepsAcrossRuns(): boolean {
    return !this.buffer.writesFailing;
  }

  /** The limits in effect (options merged over the defaults). */
  get limits(): OutboxLimits {
    return this.o.limits;
  }

  /**
   * Resolves once the directory is there and writable; rejects with `OutboxIoError` when it
   * cannot be (a read-only file system, a path through a file, no permission).
   */
  opened(): Promise<void> {
    return this.ready;
  }

  append(records: readonly OutboxRecord[]): void {
    this.admission.append(records, this.closing !== null);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    while (this.clearing !== null) await this.clearing;
    if (this.closing !== null) return null;
    this.lastDeliveryMs = this.monotonicNow();
    // Claims read only what is written, so our own buffered records go to disk first, unless
    // a whole batch of older records is already waiting there (the common case under load:
    // the timed writes keep up, and a claim costs no file operation). Under 'memory' a claim
    // is one of the moments records are written (see `durability`): always.
    if (this.o.durability === 'memory' || (this.holder.index?.freeEvents() ?? 0) < maxEvents) {
      await this.buffer.flush().catch(() => {});
    }
    let batch: OutboxBatch | null;
    try {
      batch = await this.claimWritten(maxEvents, maxBytes);
    } catch (error) {
      // The disk cannot even be read or locked (full, gone read-only): what is in memory goes.
      if (!this.buffer.writesFailing || this.buffer.events === 0) throw error;
      batch = null;
    }
    return batch ?? this.claimUnwritten(maxEvents, maxBytes);
  }

  /** A claim of records on disk: only by the lock holder, oldest first. */
  private claimWritten(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    return this.io('claim', async () => {
      if (this.closing !== null || !(await this.becomeHolder())) return null;
      const index = this.holder.index!;
      const queue = this.holder.queue!;
      // New segments of other processes, frames they added, segments they sealed: looked for
      // when there is nothing else to claim, and otherwise at most once per REFRESH_INTERVAL_MS.
      const now = this.monotonicNow();
      if (index.freeEvents() === 0 || now - this.lastRefreshMs >= REFRESH_INTERVAL_MS) {
        this.lastRefreshMs = now;
        await index.refresh();
        await this.holder.enforceLimits();
      }
      const batch = await queue.claim(maxEvents, maxBytes);
      await this.holder.collect();
      return batch;
    });
  }

  /**
   * While writes fail and nothing on disk is left to claim, the records waiting in memory for
   * the retry are sent from there (`UnwrittenClaims`).
   */
  private claimUnwritten(maxEvents: number, maxBytes: number): OutboxBatch | null {
    if (this.closing !== null) return null;
    const retentionMs = this.o.limits.retentionMs;
    const cutoff = retentionMs > 0 ? this.retentionNow() - retentionMs : -Infinity;
    return this.unwritten.claim(maxEvents, maxBytes, cutoff);
  }

  async ack(batch: OutboxBatch): Promise<void> {
    await this.settle(batch, 'ack');
  }

  async release(batch: OutboxBatch): Promise<void> {
    await this.settle(batch, 'release');
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number> {
    if (this.closing !== null) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return 0;
    let stored = 0;
    if (this.unwritten.size > 0) {
      const { kept, onDisk } = this.unwritten.sortForDeadLetter(records);
      if (kept.length > 0) {
        await this.deadLetterUnwritten(kept, String(reason));
        stored += kept.length;
      }
      if (onDisk.length === 0) return stored;
      records = onDisk;
    }
    // The dead-letter store first, then the serial section, as for a replay (whose writes need
    // the serial section while it holds the store): never the other way round.
    try {
      await this.deadLetters.locked((add) =>
        this.serial(async () => {
          const queue = this.holder.queue;
          if (queue === null) return;
          const taken = queue.takeForDeadLetter(records);
          if (taken.length === 0) return;
          // Marked gone in the index before they are in the dead-letter store: a cursor saved
          // meanwhile (at exit) would lose them.
          this.deadLettering++;
          try {
            await add(taken, String(reason), this.o.now());
          } catch (error) {
            // Marked gone in memory but not stored: forget the index so they come back from disk.
            this.holder.forget();
            throw new OutboxIoError('deadLetter', { cause: error });
          } finally {
            this.deadLettering--;
          }
          this.drops.emit('dead-lettered', taken.length);
          stored += taken.length;
          await this.holder.collect();
        }),
      );
    } catch (error) {
      if (!(error instanceof OutboxIoError && error.operation === 'dead-letter lock')) throw error;
      // Locked by another process for too long: the claims come back from disk, as above.
      await this.serial(async () => this.holder.forget());
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    return stored;
  }

  /**
   * Records claimed from memory into the dead-letter store: taken out of their batch once stored
   * (its ack then forgets the rest); when the store cannot take them (the disk is full), the
   * error goes to the delivery, which releases the batch: they wait in memory, as they did.
   */
  private async deadLetterUnwritten(records: readonly OutboxRecord[], reason: string): Promise<void> {
    try {
      await this.deadLetters.locked((add) => add(records, reason, this.o.now()));
    } catch (error) {
      throw new OutboxIoError('deadLetter', { cause: error });
    }
    this.unwritten.takeOut(new Set(records));
    this.drops.emit('dead-lettered', records.length);
  }

  /**
   * Stores dead letters made elsewhere, each with its own reason and time: those of the memory
   * outbox that stood in while the directory could not be used (`RecoveringOutbox`). Uuids
   * stored already are skipped, so a move tried again after a failure adds none twice.
   */
  async adoptDeadLetters(letters: readonly DeadLetter[]): Promise<void> {
    await this.ready;
    this.assertOpen('adoptDeadLetters');
    try {
      await this.deadLetters.locked(async (add) => {
        const stored = new Set((await this.deadLetters.list()).map((d) => d.record.uuid));
        let group: OutboxRecord[] = [];
        let first: DeadLetter | undefined;
        const flush = async (): Promise<void> => {
          if (first !== undefined) await add(group, first.reason, first.deadLetteredAtMs);
          group = [];
          first = undefined;
        };
        for (const letter of letters) {
          if (stored.has(letter.record.uuid)) continue;
          const sameGroup =
            first !== undefined &&
            first.reason === letter.reason &&
            first.deadLetteredAtMs === letter.deadLetteredAtMs;
          if (!sameGroup) await flush();
          first ??= letter;
          group.push(letter.record);
        }
        await flush();
      });
    } catch (error) {
      throw error instanceof OutboxError ? error : new OutboxIoError('adoptDeadLetters', { cause: error });
    }
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    await this.ready;
    this.assertOpen('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return this.deadLetters.list(max);
  }

  /** Runs in the dead-letter store's section, as `deadLetter` and `purgeDeadLetters` do. */
  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    await this.ready;
    this.assertOpen('replayDeadLetters');
    return this.deadLetters.take(uuids, async (taken) => {
      // Judged on what is on disk now: what this process knew when it let the lock go is stale
      // once another process delivered.
      const onDisk =
        this.o.limits.overflow === 'drop-newest'
          ? await this.serial(async () => {
              const index = await this.freshIndex();
              return { events: index.events, bytes: index.bytes };
            })
          : { events: 0, bytes: 0 };
      const queued = requeueDeadLetters(taken, {
        nowMs: this.o.now(),
        limits: this.o.limits,
        fits: (jsonBytes) => this.admission.fits(jsonBytes, onDisk),
        push: (record) => this.buffer.push(record),
      });
      await this.buffer.flush();
      return queued;
    });
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    await this.ready;
    this.assertOpen('purgeDeadLetters');
    return this.deadLetters.take(uuids, async (taken) => taken);
  }

  async size(): Promise<OutboxSize> {
    await this.ready;
    this.assertOpen('size');
    return this.io('size', async () => {
      const index = await this.freshIndex();
      const onDisk = await index.oldestTimestamp();
      const unwritten = this.unwritten.counts();
      // A group being written is counted by the buffer until its write resolves, then by the
      // index once `afterWrite` runs; the refresh above may have read it from disk in either
      // state: counted exactly once all the same.
      const landing = framesOf([...this.landing], index, false);
      const landed = this.buffer.landed;
      const readTwice = framesOf(landed === null ? [] : [landed], index, true);
      let buffered = this.buffer.oldestTimestamp();
      for (const oldest of [unwritten.oldest, landing.oldest])
        if (oldest !== null) buffered = Math.min(buffered ?? Infinity, oldest);
      return {
        events:
          index.events + this.buffer.pendingEvents - readTwice.events + unwritten.events + landing.events,
        bytes: index.bytes + this.buffer.pendingBytes - readTwice.bytes + unwritten.bytes + landing.bytes,
        oldestTimestampMs:
          onDisk === null ? buffered : buffered === null ? onDisk : Math.min(onDisk, buffered),
        deadLetters: await this.deadLetters.count(),
      };
    });
  }

  async clear(): Promise<number> {
    this.assertOpen('clear');
    // Claims wait for it: one queued between its start and its section (it waits for the writes
    // under way first) handed out records from before the denial, which a delivery resumed by a
    // grant right after it then sent.
    const run = this.clearNow();
    const clearing = run.then(
      () => undefined,
      () => undefined,
    );
    this.clearing = clearing;
    try {
      return await run;
    } finally {
      if (this.clearing === clearing) this.clearing = null;
    }
  }

  private async clearNow(): Promise<number> {
    const { events, bytes } = this.buffer.discard();
    // Batches claimed from memory are being sent: sent if acked, dropped if released.
    this.unwritten.cleared();
    // Writes in flight land on disk and are cleared there.
    await this.buffer.settled();
    // Or failed, and their records went back into the buffer for the retry: cleared too.
    const unwritten = this.buffer.discard();
    let dropped = { events: events + unwritten.events, bytes: bytes + unwritten.bytes };
    let waiting = 0;
    let holder = false;
    await this.io('clear', async () => {
      if (!(await this.becomeHolder())) {
        // Another process delivers (or this outbox closed before its turn came): what is on
        // disk now is written down for the holder, which drops it before its next claim, while
        // what is appended from here on is kept (see `ClearRequests`). The holder counts what it
        // drops; answered here too is what waited, as this process sees it.
        const index = await this.freshIndex();
        const upTo = new Map<string, number>();
        for (const seg of index.segments) if (seg.events > 0) upTo.set(seg.base, seg.scanned);
        if (upTo.size > 0) await this.clearRequests.write(upTo);
        waiting = index.events;
        return;
      }
      holder = true;
      await this.holder.index!.refresh();
      const onDisk = this.holder.queue!.clear();
      dropped = { events: dropped.events + onDisk.events, bytes: dropped.bytes + onDisk.bytes };
      await this.holder.collect();
      // Consent was withdrawn: the cursor says so now, not within `persistIntervalMs`, so that
      // a crash right after does not hand out what was cleared (batches in flight included).
      await this.holder.flushCursor();
    });
    this.drops.emit('consent', dropped.events, dropped.bytes);
    // Only after the clear's section: sealing first (it waits for the writes under way) let a
    // delivery resumed by a grant right after the denial claim, and send, what was to be cleared.
    // Records in flight were cleared too (not counted here): their segment goes once they settle.
    if (holder) await this.deleteClearedBytes();
    // Another process holds the lock: the segment this process writes is sealed, so that the
    // holder deletes it once it has honoured the request (left open, it kept the cleared events'
    // bytes for as long as this process ran). Not within `io`: a write's `afterWrite` waits for it.
    else await this.buffer.sealActive().catch(() => {});
    return dropped.events + waiting;
  }

  /**
   * After a clear of records on disk: the segment this process writes is sealed and, with the
   * others the clear emptied, deleted (those holding cleared records in flight, once they
   * settle). Left open, it kept the cleared events' bytes on the device for as long as the app
   * ran (and after it, until a later run adopted it), though nothing would send them. Another
   * live process seals its own segment when it clears (`clear()` in every process follows a
   * denial), and is deleted by the holder then.
   */
  private async deleteClearedBytes(): Promise<void> {
    try {
      await this.buffer.sealActive();
      await this.serial(async () => {
        const index = this.holder.index;
        if (index === null || this.closing !== null) return;
        await index.refresh();
        await this.holder.collect();
      });
    } catch (error) {
      this.o.logger.warn('outbox: the segment a clear emptied could not be deleted', {
        error: String(error),
      });
    }
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    checkStateKey(key);
    await this.ready;
    this.assertOpen('getState');
    return (await this.state.get(key)) as T | undefined;
  }

  async setState(key: string, value: unknown): Promise<void> {
    checkStateKey(key);
    const json = encodeStateValue(key, value);
    await this.ready;
    this.assertOpen('setState');
    await this.state.set(key, json);
  }

  async persist(): Promise<void> {
    if (this.closed) {
      // Nothing is left to write; what the close gave up is not stored (`stats().persisted`
      // was counted up to `queued` by a persist() after shutdown() on a full disk).
      if (this.unsavedSinceClose === 0) return;
      throw new OutboxIoError('persist', {
        cause: new Error(`${this.unsavedSinceClose} events could not be written before the outbox closed`),
      });
    }
    await this.buffer.flush();
    // Acks are durable within the same window as appends; persist() ends the wait for both.
    await this.serial(() => this.holder.flushCursor());
  }

  /**
   * The process ends in this turn: appends not yet written become a sealed segment, and acks
   * not yet in the cursor are written, both synchronously (see `AppendBuffer.writeOnExit`,
   * `QueueHolder.saveCursorOnExit`). After `close()` there is nothing left to do.
   */
  persistOnExit(): void {
    if (this.closed) return;
    // Called again for records appended since (an app's own `exit` listener tracked them).
    if (this.exited) return this.buffer.writeOnExit();
    this.exited = true;
    // Batches sent from memory and not acked yet are written too: sent twice, rather than lost.
    this.unwritten.putBackAll();
    this.buffer.writeOnExit();
    // Records being moved to the dead letters are marked gone but may not be stored there yet:
    // this run's acks are then left unsaved (sent again next run) rather than risk those.
    if (this.deadLettering === 0) {
      try {
        this.holder.saveCursorOnExit();
      } catch (error) {
        // The acks are lost, not the events: they are sent again (the uuid dedups them).
        this.o.logger.warn('outbox: acks could not be stored at exit', { error: String(error) });
      }
    }
    this.holder.releaseOnExit();
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.heartbeatTimer);
    // An open still under way would take the lock after the release below (`init` asks for it
    // last), for an outbox closed already: with no heartbeat, every other waited `staleMs`.
    await this.ready.catch(() => {});
    await this.deadLetters.stop();
    this.unwritten.putBackAll();
    await this.buffer.close();
    this.offDirectoryMade();
    await this.kept.settled();
    await this.serial(async () => {
      await this.holder.release();
      // Tasks queued behind this one (a clear begun before the close) must not take the lock
      // again: the outbox is closed, its heartbeat stopped, and the lock would stay for `staleMs`.
      this.releasedAtClose = true;
    });
    this.closed = true;
  }

  /**
   * A group reached the disk: the holder counts it without reading it back, then applies limits.
   * Without the lock (nobody delivering took it, or an idle holder let it go) the group is
   * counted against what was last known; past the limits, the lock is taken just long enough to
   * apply them (a holder that is delivering keeps it, and applies the limits itself).
   */
  private async afterWrite(written: WrittenGroup, group: GroupSummary, frames: WrittenFrames): Promise<void> {
    this.kept.retry();
    // Out of the buffer's count already, not in the index until the task below runs.
    const landing = { written, frames };
    this.landing.add(landing);
    await this.serial(async () => {
      this.landing.delete(landing);
      const index = this.holder.index;
      if (index !== null) {
        index.noteOwnWrite(written.base, written.start, written.end, group, frames);
        await this.holder.enforceLimits();
        return;
      }
      if (!this.admission.noteUnindexed(group)) return;
      try {
        // Taking the lock builds (or refreshes) the index and applies the limits.
        if (this.closing === null && (await this.becomeHolder())) await this.holder.release(true);
      } catch (error) {
        this.o.logger.debug('outbox: could not apply the limits', { error: String(error) });
      }
    });
  }

  private async settle(batch: OutboxBatch, how: 'ack' | 'release'): Promise<void> {
    if (batch === null || typeof batch !== 'object') return;
    this.lastDeliveryMs = this.monotonicNow();
    if (this.unwritten.settle(batch, how)) return;
    await this.io(how, async () => {
      const queue = this.holder.queue;
      if (queue === null) return;
      const known = how === 'ack' ? queue.ack(batch) : queue.release(batch);
      if (known) await this.holder.collect();
    });
  }

  /** The holder's index, else a read-only one (no lock), brought up to date with the disk; in `serial`. */
  private async freshIndex(): Promise<SegmentIndex> {
    let index = this.holder.index;
    if (index === null) {
      this.observer ??= this.holder.newIndex(false);
      index = this.observer;
    }
    await index.refresh();
    return index;
  }

  /** Takes the delivery lock if free; answers whether this outbox holds it. */
  private async becomeHolder(): Promise<boolean> {
    await this.ready;
    // Taken after the release at close, nobody would ever let it go (see `shutdown`).
    if (this.releasedAtClose) return false;
    const before = this.holder.index;
    if (!(await this.holder.acquire())) return false;
    // A new index has just read the directory: the claim need not look again at once (in a busy
    // process that is several turns of the event loop before the first batch goes out). It has
    // counted what this process wrote without the lock.
    if (this.holder.index !== before) {
      this.lastRefreshMs = this.monotonicNow();
      this.admission.forgetUnindexed();
    }
    this.observer = null;
    return true;
  }

  private async init(): Promise<void> {
    await makeDirectory(this.directory);
    // Made again after it was deleted, by whatever wrote there next (a segment, the state, a
    // segment at exit, the client's identity or install id): what the outbox kept beside the
    // queue went with it (see `KeptFiles`). Synchronously made, perhaps in the turn the process
    // ends in: written back in that same call.
    if (this.closing === null) {
      this.offDirectoryMade = onDirectoryMade(this.directory, (synchronously) => {
        if (this.closed) return;
        if (synchronously) this.kept.writeAgainNow();
        else this.kept.writeAgain();
      });
    }
    // One another account made, or can write in, may hold its events, endpoints and consent:
    // refused before anything in it is read (the client keeps events in memory meanwhile).
    const unsafe = await unsafeDirectory(this.directory);
    if (unsafe !== undefined) throw unsafe;
    const state = path.join(this.directory, STATE_DIR);
    const stateMoved = await moveAsideWhatIsInStatesPlace(this.directory);
    if (stateMoved !== undefined) this.movedAside(state, stateMoved);
    if (this.o.saveLimits) {
      await this.saveLimitsForTools().catch((error: unknown) => {
        // A directory this process may not write is unusable (the client keeps events in
        // memory). Anything else (a full disk, no file descriptor free) only costs tools the
        // app's limits: failing the open for it would strand every event already on disk,
        // which delivering would free room for. Written once a group lands.
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw error;
        this.kept.lost = true;
        this.o.logger.warn('outbox: could not save its limits for tools (outbox.json)', {
          error: String(error),
        });
      });
    }
    await removeStaleTempFiles(this.directory, 60 * 60 * 1000, Date.now());
    void this.reserve.ensure();
    this.reserveCheckedMs = this.monotonicNow();
    // Become the holder early if nobody is, so limits apply from the start; not for an outbox
    // closed meanwhile (taking the lock builds the index: every segment read, for nothing).
    void this.serial(async () => this.closing === null && this.becomeHolder()).catch((error: unknown) => {
      this.o.logger.warn('outbox: could not open the queue', { error: String(error) });
    });
  }

  /** `outbox.json`, with whatever is in its place and not a file moved aside first. */
  private async saveLimitsForTools(): Promise<void> {
    const file = path.join(this.directory, INFO_FILE);
    const moved = await moveAsideIfNotAFile(file);
    if (moved !== undefined) this.movedAside(file, moved);
    await writeOutboxInfo(this.directory, this.o.limits, this.o.durability === 'fsync');
  }

  /** `saveLimitsForTools`, synchronously (see `KeptFiles.writeAgainNow`). */
  private saveLimitsForToolsNow(): void {
    const file = path.join(this.directory, INFO_FILE);
    const moved = moveAsideIfNotAFileSync(file);
    if (moved !== undefined) this.movedAside(file, moved);
    writeOutboxInfoSync(this.directory, this.o.limits, this.o.durability === 'fsync');
  }

  onKeptFilesLost(listener: () => void): () => void {
    return this.kept.onLost(listener);
  }

  /**
   * Something not ours was where one of the outbox's own files belongs (a FIFO, a socket, a
   * link, a file in place of `state/`) and was moved aside, never deleted: told once per kind.
   */
  private movedAside(file: string, what: string): void {
    const name = path.relative(this.directory, file);
    const kind = `${what} ${name.startsWith(`${STATE_DIR}${path.sep}`) ? STATE_DIR : name}`;
    if (this.movedAsideTold.has(kind)) return;
    this.movedAsideTold.add(kind);
    this.o.logger.warn(`outbox: ${what} was in the place of ${name}; moved aside (never deleted: not ours)`, {
      file,
      what,
    });
  }

  private async heartbeat(): Promise<void> {
    try {
      // Made again once delivery (or anything else) has freed room since it was given up.
      if (this.monotonicNow() - this.reserveCheckedMs >= RESERVE_CHECK_MS) {
        this.reserveCheckedMs = this.monotonicNow();
        void this.reserve.ensure();
      }
      await this.writer.heartbeat();
      await this.serial(async () => {
        await this.holder.heartbeat();
        // A holder that stopped delivering (no delivery loop, consent pending, ...) must not keep
        // every other process from delivering: after a while without claims it lets the lock go.
        const idle = this.monotonicNow() - this.lastDeliveryMs > this.o.heartbeatMs * 5;
        if (idle && this.holder.queue?.outstanding === 0 && this.closing === null)
          await this.holder.release(true);
      });
    } catch (error) {
      this.o.logger.debug('outbox: heartbeat failed', { error: String(error) });
    }
  }

  /**
   * `serial`, for a public operation: the outbox contract says every rejection is an
   * OutboxError, so a file system's own error (ENOSPC taking the lock, EIO reading a segment)
   * becomes an OutboxIoError naming the operation, with the system error as its cause.
   */
  private io<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.serial(fn).catch((error: unknown) => {
      throw error instanceof OutboxError ? error : new OutboxIoError(operation, { cause: error });
    });
  }

  /** Runs `fn` after every other serial task: index, queue and lock change one task at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serialTail.then(fn, fn);
    this.serialTail = run.catch(() => {});
    return run;
  }

  private assertOpen(operation: string): void {
    if (this.closing !== null) throw new OutboxClosedError(operation);
  }
}

/**
 * Events, bytes and oldest timestamp of the frames of these written groups that `index` has
 * (`read`) or has not read from disk yet. A refresh reads whole frames, in order: those before
 * where it got to in the segment are counted in the index.
 */
function framesOf(
  groups: readonly { written: WrittenGroup; frames: WrittenFrames }[],
  index: SegmentIndex,
  read: boolean,
): { events: number; bytes: number; oldest: number | null } {
  let events = 0;
  let bytes = 0;
  let oldest: number | null = null;
  for (const { written, frames } of groups) {
    const readTo = index.get(written.base)?.scanned ?? 0;
    frames.records.forEach((r, i) => {
      const inIndex = written.start + frames.offsets[i]! < readTo;
      if (inIndex !== read) return;
      events++;
      bytes += r.jsonBytes;
      if (oldest === null || r.timestampMs < oldest) oldest = r.timestampMs;
    });
  }
  return { events, bytes, oldest };
}
