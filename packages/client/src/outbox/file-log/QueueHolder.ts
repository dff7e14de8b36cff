import type { DropReason, OutboxLimits } from '../outbox.js';
import type { ClearRequests } from './ClearRequests.js';
import type { DirectoryLock } from './DirectoryLock.js';
import { LogQueue } from './LogQueue.js';
import { SegmentIndex } from './SegmentIndex.js';

/**
 * The delivery role of one file outbox: holding `delivery.lock`, and with it the index of the
 * directory and the queue of claims. Only while holding the lock may a process claim, ack,
 * drop or delete anything, which is what keeps two processes from holding the same record.
 *
 * Every method is called inside the outbox's serial section, one at a time.
 */
export interface QueueHolderOptions {
  readonly directory: string;
  readonly lock: DirectoryLock;
  readonly limits: OutboxLimits;
  /** The time retention ages records as of (`retentionClock`, not the wall clock as such). */
  readonly now: () => number;
  readonly staleMs: number;
  readonly fsync: boolean;
  /**
   * How long acks may wait in memory before the cursor is written: 0 writes it before `ack`
   * resolves (durability 'fsync'); otherwise acks within this window share one write, and a
   * crash in it sends those records again (at least once; the uuid dedups them).
   */
  readonly cursorDelayMs: number;
  /** Bytes of recently written records kept for claims (`RecentFrames`). */
  readonly claimCacheBytes: number;
  readonly isOwn: (base: string) => boolean;
  readonly onDrop: (reason: DropReason, count: number, bytes?: number) => void;
  /** A segment skipped because it cannot be read (see `SegmentIndexOptions.onUnreadable`). */
  readonly onUnreadable?: (file: string, error: unknown) => void;
  /** A segment that still held events was deleted by something else (see `SegmentIndexOptions.onVanished`). */
  readonly onVanished?: (file: string, events: number) => void;
  /**
   * The cursor (what was sent) could not be saved: told once per kind of failure until a save
   * succeeds. Acks stay in memory meanwhile; a restart before the next good save sends again.
   */
  readonly onCursorUnsaved?: (error: unknown) => void;
  /** Something not ours was moved aside from the cursor's place (see `SegmentIndexOptions.onMovedAside`). */
  readonly onMovedAside?: (file: string, what: string) => void;
  /** Runs a write the delivery cannot do without (the lock, the cursor): `SpaceReserve.withRoom`. */
  readonly withRoom: <T>(op: () => Promise<T>) => Promise<T>;
  /** `withRoom` for the exit path, synchronously. */
  readonly withRoomSync: <T>(op: () => T) => T;
  /** Clears asked for by processes without the lock, honoured before anything is handed out. */
  readonly clearRequests: ClearRequests;
  /**
   * A clear request dropped records (called within the serial section, not waited for): their
   * bytes are still in the segment this process writes, until it is sealed and deleted.
   */
  readonly onCleared?: () => void;
}

export class QueueHolder {
  /** Set while the lock is held. */
  index: SegmentIndex | null = null;
  queue: LogQueue | null = null;
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  /**
   * The index as it was when the lock was last let go on purpose (`release(true)`), with the
   * cursor's signature then. Taken again while nobody else changed the cursor (no other holder
   * acked or dropped anything), it needs only a refresh (what was written since), not a reading
   * of every segment.
   */
  private parked: { index: SegmentIndex; cursor: string } | null = null;

  constructor(private readonly o: QueueHolderOptions) {}

  /** Pending events and bytes when the lock was let go on purpose; null if never held or lost. */
  get lastKnown(): { events: number; bytes: number } | null {
    return this.parked === null ? null : { events: this.parked.index.events, bytes: this.parked.index.bytes };
  }

  /**
   * Takes the lock if it is free (or confirms we still hold it) and builds the index. Either way
   * the clear requests of other processes are honoured first: every claim comes through here, so
   * nothing a denial cleared is handed out once its request is written.
   */
  async acquire(): Promise<boolean> {
    if (this.index !== null) {
      if (await this.o.lock.stillHeld()) {
        await this.honourClearRequests();
        return this.index !== null;
      }
      this.forget();
    }
    if (!(await this.o.withRoom(() => this.o.lock.tryAcquire()))) return false;
    const parked = this.parked;
    this.parked = null;
    let index: SegmentIndex;
    try {
      if (parked !== null && (await parked.index.cursorFileSignature()) === parked.cursor) {
        index = parked.index;
        index.afterGap();
        await index.refresh();
      } else {
        index = this.newIndex(true);
        await index.load();
      }
    } catch (error) {
      await this.o.lock.release().catch(() => {});
      throw error;
    }
    this.index = index;
    this.queue = new LogQueue(index, {
      retentionMs: this.o.limits.retentionMs,
      now: this.o.now,
      onDrop: this.o.onDrop,
    });
    await this.honourClearRequests();
    if (this.index === null) return false;
    await this.enforceLimits();
    return true;
  }

  /**
   * Drops what the waiting clear requests name (see `ClearRequests`), counted 'consent'; the
   * cursor is saved before the requests are removed, so a crash in between applies them again
   * (dropping nothing more) rather than forgetting them.
   */
  private async honourClearRequests(): Promise<void> {
    const requests = await this.o.clearRequests.read();
    const { index, queue } = this;
    if (requests.length === 0 || index === null || queue === null) return;
    // Whatever a request names was on disk when it was written: read up to there first.
    await index.refresh();
    let events = 0;
    let bytes = 0;
    for (const request of requests) {
      const dropped = await queue.clearUpTo(request.upTo);
      events += dropped.events;
      bytes += dropped.bytes;
    }
    if (!(await this.o.lock.stillHeld())) {
      // The next holder honours them (the drops above were never saved) and counts them.
      this.forget();
      return;
    }
    this.o.onDrop('consent', events, bytes);
    await index.deleteFinished();
    await this.saveCursor(index);
    await this.o.clearRequests.remove(requests);
    // Records in flight were cleared too (not counted in `events`).
    this.o.onCleared?.();
  }

  /** An index that only reads (for `size()` in a process without the lock). */
  newIndex(holder: boolean): SegmentIndex {
    return new SegmentIndex({
      directory: this.o.directory,
      holder,
      retentionMs: this.o.limits.retentionMs,
      now: this.o.now,
      staleMs: this.o.staleMs,
      fsync: this.o.fsync,
      recentBytes: holder ? this.o.claimCacheBytes : 0,
      isOwn: this.o.isOwn,
      onDrop: this.o.onDrop,
      withRoom: this.o.withRoom,
      ...(this.o.onUnreadable === undefined ? {} : { onUnreadable: this.o.onUnreadable }),
      ...(holder && this.o.onMovedAside !== undefined ? { onMovedAside: this.o.onMovedAside } : {}),
      ...(this.o.onVanished === undefined ? {} : { onVanished: this.o.onVanished }),
    });
  }

  /** Forgets the index and claims (the lock was lost): records stay on disk for the next holder. */
  forget(): void {
    this.cancelSave();
    this.queue?.forgetClaims();
    this.queue = null;
    this.index = null;
  }

  /**
   * Deletes finished segments and saves the cursor (now, or within `cursorDelayMs`), if the
   * lock is still ours.
   */
  async collect(): Promise<void> {
    const index = this.index;
    if (index === null) return;
    if (!(await this.o.lock.stillHeld())) {
      this.forget();
      return;
    }
    await index.deleteFinished();
    if (this.o.cursorDelayMs === 0) {
      await this.saveCursor(index);
    } else if (this.saveTimer === null) {
      this.saveTimer = setTimeout(() => {
        this.saveTimer = null;
        void this.saveIfHeld(index);
      }, this.o.cursorDelayMs);
      this.saveTimer.unref();
    }
  }

  /**
   * The process ends in this turn: acks not in `cursor.json` yet are written now, synchronously,
   * if the lock is still ours (else the next holder's cursor is the truth, and they are sent
   * again). Finished segments are left for the next holder to delete.
   */
  saveCursorOnExit(): void {
    const index = this.index;
    if (index === null || !this.o.lock.stillHeldNow()) return;
    this.cancelSave();
    this.o.withRoomSync(() => index.saveCursorSync());
  }

  /** The process ends in this turn: the lock is let go now (after `saveCursorOnExit`). */
  releaseOnExit(): void {
    this.o.lock.releaseNow();
  }

  /** Writes a cursor save that is waiting for its timer now (for `persist()`). */
  async flushCursor(): Promise<void> {
    if (this.saveTimer === null || this.index === null) return;
    this.cancelSave();
    await this.saveIfHeld(this.index);
  }

  private async saveIfHeld(index: SegmentIndex): Promise<void> {
    try {
      if (this.index === index && (await this.o.lock.stillHeld())) await this.saveCursor(index);
    } catch {
      // Retried with the next ack; until then the acks stay in memory (sent again after a crash).
    }
  }

  /** The failure last told through `onCursorUnsaved` (its code), until a save succeeds. */
  private cursorFailure: string | undefined;

  private async saveCursor(index: SegmentIndex): Promise<void> {
    try {
      await index.saveCursor();
      this.cursorFailure = undefined;
    } catch (error) {
      // A read-only directory fails every save alike: said once, not at every ack.
      const kind = String((error as NodeJS.ErrnoException | undefined)?.code ?? error);
      if (kind !== this.cursorFailure) this.o.onCursorUnsaved?.(error);
      this.cursorFailure = kind;
      throw error;
    }
  }

  private cancelSave(): void {
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.saveTimer = null;
  }

  /** Drops what is over maxEvents/maxBytes on disk, per the overflow policy. */
  async enforceLimits(): Promise<void> {
    const { index, queue } = this;
    if (index === null || queue === null) return;
    const { maxEvents, maxBytes, overflow } = this.o.limits;
    const excessEvents = Math.max(0, index.events - maxEvents);
    const excessBytes = Math.max(0, index.bytes - maxBytes);
    if (excessEvents === 0 && excessBytes === 0) return;
    const dropped =
      overflow === 'drop-oldest'
        ? await queue.dropOldest(excessEvents, excessBytes)
        : await queue.dropNewest(excessEvents, excessBytes);
    this.o.onDrop('overflow', dropped.events, dropped.bytes);
    await this.collect();
  }

  /** Refreshes the lock's heartbeat; forgets everything if it turns out to be lost. */
  async heartbeat(): Promise<void> {
    if (this.index !== null && !(await this.o.lock.heartbeat())) this.forget();
  }

  /**
   * Saves what is pending and lets the lock go; claims not settled return to the queue. With
   * `park`, the index is kept for the next `acquire` (see `parked`).
   */
  async release(park = false): Promise<void> {
    this.cancelSave();
    this.queue?.forgetClaims();
    const index = this.index;
    this.parked = null;
    if (index !== null && (await this.o.lock.verify().catch(() => false))) {
      // A segment this process sealed since the last refresh (at close, or on a full disk) is
      // known as still being written until a refresh sees the new name: without one, the
      // segment stayed on disk, delivered, until the next process opened the directory.
      await index.refresh().catch(() => {});
      await index.deleteFinished().catch(() => {});
      await this.saveCursor(index).catch(() => {});
      if (park) this.parked = { index, cursor: await index.cursorFileSignature() };
    }
    this.forget();
    await this.o.lock.release().catch(() => {});
  }
}
