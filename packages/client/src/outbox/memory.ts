import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { OutboxClosedError, OutboxOptionError } from './errors.js';
import { resolveOutboxLimits } from './limits.js';
import { MemoryDeadLetters } from './memoryDeadLetters.js';
import type {
  DeadLetter,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from './outbox.js';
import { DropListeners, normalizeRecord, utf8Length } from './records.js';
import { retentionClock, warnOnRetentionDrops } from './retentionClock.js';
import { RingDeque } from './RingDeque.js';
import { checkStateKey, encodeStateValue } from './stateValue.js';

/**
 * The in-memory outbox: bounded by events and bytes, nothing survives the process. Used where
 * there is no durable storage, and as the model the durable outboxes are tested against.
 *
 * Pending records wait in a ring deque (O(1) at both ends). A released batch goes to a small
 * sorted list merged with the deque by sequence number, so records come back in their
 * original order whichever batch is released first.
 */
export interface MemoryOutboxOptions extends Partial<OutboxLimits> {
  /**
   * Clock for retention and dead-letter times; default `Date.now`. A jump ahead of the monotonic
   * clock does not age events (see `retentionClock.ts`).
   */
  now?: () => number;
  /** Where retention drops and clock jumps are reported; default silent. */
  logger?: Logger;
}

interface Entry {
  readonly record: OutboxRecord;
  readonly seq: number;
  readonly bytes: number;
  /** The `clear()` generation the entry was claimed in; a release after a clear drops it. */
  epoch: number;
}

export class MemoryOutbox implements Outbox {
  private readonly limits: OutboxLimits;
  private readonly now: () => number;
  /** The time retention ages events as of (`retentionClock`). */
  private readonly retentionNow: () => number;
  private readonly pending = new RingDeque<Entry>();
  /** Released entries, sorted by seq; all older than anything they were claimed after. */
  private returned: Entry[] = [];
  private readonly claimed = new Map<OutboxBatch, Entry[]>();
  /** The batches of `claimInMemory`: the unload send's own, not in flight elsewhere. */
  private readonly unloadBatches = new WeakSet<OutboxBatch>();
  private readonly deadLetters: MemoryDeadLetters;
  private readonly state = new Map<string, string>();
  private readonly drops = new DropListeners();
  private nextSeq = 0;
  private events = 0;
  private bytes = 0;
  private epoch = 0;
  private closed = false;
  /** Oldest records dropped by `makeRoom` during the current `append`, reported once at its end. */
  private evicted = 0;

  constructor(options: MemoryOutboxOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new OutboxOptionError('options', 'must be an object');
    this.limits = resolveOutboxLimits(options);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new OutboxOptionError('now', 'must be a function returning ms since the epoch');
    }
    this.now = options.now ?? Date.now;
    const logger = options.logger ?? silentLogger;
    if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function') {
      throw new OutboxOptionError('logger', 'must have debug, warn and error methods');
    }
    this.retentionNow = retentionClock(this.now, logger);
    warnOnRetentionDrops(this.drops, logger, this.limits.retentionMs);
    this.deadLetters = new MemoryDeadLetters(this.limits.maxDeadLetters, this.limits.maxDeadLetterBytes);
  }

  append(records: readonly OutboxRecord[]): void {
    if (!Array.isArray(records) || records.length === 0) return;
    const nowMs = this.now();
    // retentionNow() is never ahead of now(): a record within now()'s period (every one track()
    // makes) is kept without it, which costs two clock readings an append.
    let agedAtMs: number | undefined;
    let invalid = 0;
    let tooLarge = 0;
    let expired = 0;
    let overflow = 0;
    for (const value of records) {
      const record = normalizeRecord(value, nowMs);
      if (record === null) {
        invalid++;
        continue;
      }
      if (this.isExpired(record, nowMs) && this.isExpired(record, (agedAtMs ??= this.retentionNow()))) {
        expired++;
        continue;
      }
      const bytes = utf8Length(record.json);
      if (bytes > this.limits.maxBytes) {
        tooLarge++;
        continue;
      }
      if (!this.makeRoom(bytes)) {
        overflow++;
        continue;
      }
      this.enqueue(record, bytes);
    }
    overflow += this.evicted;
    this.evicted = 0;
    this.drops.emit('corrupt', invalid);
    this.drops.emit('too-large', tooLarge);
    this.drops.emit('retention', expired);
    this.drops.emit('overflow', overflow);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    return this.take(maxEvents, maxBytes, true);
  }

  /** Everything here is in memory: the same as `claim`, answered at once (see `Outbox`). */
  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    checkClaimLimits(maxEvents, maxBytes);
    if (this.closed) return null;
    const batch = this.take(maxEvents, maxBytes, false);
    if (batch !== null) this.unloadBatches.add(batch);
    return batch;
  }

  inFlight(): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (const [batch, entries] of this.claimed) {
      if (!this.unloadBatches.has(batch)) for (const e of entries) out.push(e.record);
    }
    return out;
  }

  /**
   * The oldest records within the limits. `atLeastOne`: a first record over `maxBytes` is taken
   * alone (`claim`); otherwise such a record is skipped and stays first in line.
   */
  private take(maxEvents: number, maxBytes: number, atLeastOne: boolean): OutboxBatch | null {
    const nowMs = this.retentionNow();
    const taken: Entry[] = [];
    const skipped: Entry[] = [];
    let bytes = 0;
    let expired = 0;
    while (taken.length < maxEvents) {
      const next = this.peekNext();
      if (next === undefined) break;
      if (this.isExpired(next.record, nowMs)) {
        this.takeNext();
        this.forget(next);
        expired++;
        continue;
      }
      if (bytes + next.bytes > maxBytes && !(atLeastOne && taken.length === 0)) {
        if (atLeastOne || next.bytes <= maxBytes) break;
        this.takeNext();
        skipped.push(next);
        continue;
      }
      this.takeNext();
      next.epoch = this.epoch;
      taken.push(next);
      bytes += next.bytes;
    }
    // Older than everything still pending: back in front, in order.
    this.returned = mergeBySeq(this.returned, skipped);
    this.drops.emit('retention', expired);
    if (taken.length === 0) return null;
    const batch: OutboxBatch = { records: taken.map((e) => e.record), bytes };
    this.claimed.set(batch, taken);
    return batch;
  }

  /** Events held, in flight included: `size().events` at once, without its retention sweep. */
  get length(): number {
    return this.events;
  }

  /** Events held that no batch holds. */
  get unclaimed(): number {
    let claimed = 0;
    for (const entries of this.claimed.values()) claimed += entries.length;
    return this.events - claimed;
  }

  /** Every record held, in flight or not (unload batches too), oldest first. */
  records(): OutboxRecord[] {
    const all: Entry[] = [...this.returned, ...this.pending];
    for (const entries of this.claimed.values()) all.push(...entries);
    return all.sort((a, b) => a.seq - b.seq).map((e) => e.record);
  }

  async ack(batch: OutboxBatch): Promise<void> {
    const entries = this.claimed.get(batch);
    if (entries === undefined) return;
    this.claimed.delete(batch);
    for (const entry of entries) this.forget(entry);
  }

  async release(batch: OutboxBatch): Promise<void> {
    const entries = this.claimed.get(batch);
    if (entries === undefined) return;
    this.claimed.delete(batch);
    let cleared = 0;
    const back: Entry[] = [];
    for (const entry of entries) {
      if (entry.epoch !== this.epoch) {
        // Claimed before consent was withdrawn: it was not sent, so it must not be kept.
        this.forget(entry);
        cleared++;
      } else {
        back.push(entry);
      }
    }
    this.returned = mergeBySeq(this.returned, back);
    this.drops.emit('consent', cleared);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number> {
    if (this.closed) throw new OutboxClosedError('deadLetter');
    if (!Array.isArray(records) || records.length === 0) return 0;
    const match = claimedMatcher(records, [...this.claimed.values()].flat());
    const at = this.now();
    let moved = 0;
    let discarded = 0;
    let discardedBytes = 0;
    let cleared = 0;
    for (const [batch, entries] of this.claimed) {
      const keep: Entry[] = [];
      for (const entry of entries) {
        if (match(entry.record)) {
          this.forget(entry);
          if (entry.epoch !== this.epoch) {
            // Consent was withdrawn while it was in flight: a dead letter could be replayed.
            cleared++;
            continue;
          }
          const over = this.deadLetters.add({
            record: entry.record,
            reason: String(reason),
            deadLetteredAtMs: at,
          });
          discarded += over.discarded;
          discardedBytes += over.bytes;
          moved++;
        } else {
          keep.push(entry);
        }
      }
      this.claimed.set(batch, keep);
    }
    this.drops.emit('dead-lettered', moved);
    this.drops.emit('overflow', discarded, discardedBytes);
    this.drops.emit('consent', cleared);
    return moved;
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    if (this.closed) throw new OutboxClosedError('listDeadLetters');
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return this.deadLetters.list(max);
  }

  /**
   * Queues the chosen dead letters again, stamped with the time of the replay, so retention counts
   * from now and does not drop an old event the moment it is replayed (its JSON keeps its own
   * timestamp). Only the dead letters the queue took leave the store: not one over `maxBytes`,
   * nor one there is no room for (drop-newest, or only in-flight records to drop).
   */
  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('replayDeadLetters');
    const nowMs = this.now();
    const queued = this.deadLetters.take(uuids, ({ record: { uuid, json } }) => {
      const bytes = utf8Length(json);
      if (bytes > this.limits.maxBytes || !this.makeRoom(bytes)) return false;
      this.enqueue({ uuid, json, timestampMs: nowMs }, bytes);
      return true;
    });
    this.drops.emit('overflow', this.evicted);
    this.evicted = 0;
    return queued;
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    if (this.closed) throw new OutboxClosedError('purgeDeadLetters');
    return this.deadLetters.take(uuids);
  }

  async size(): Promise<OutboxSize> {
    if (this.closed) throw new OutboxClosedError('size');
    this.sweepExpired();
    let oldest: number | null = null;
    const consider = (e: Entry): void => {
      if (oldest === null || e.record.timestampMs < oldest) oldest = e.record.timestampMs;
    };
    for (const e of this.pending) consider(e);
    for (const e of this.returned) consider(e);
    for (const entries of this.claimed.values()) entries.forEach(consider);
    return {
      events: this.events,
      bytes: this.bytes,
      oldestTimestampMs: oldest,
      deadLetters: this.deadLetters.length,
    };
  }

  async clear(): Promise<number> {
    if (this.closed) throw new OutboxClosedError('clear');
    let count = 0;
    for (const entry of this.pending) {
      this.forget(entry);
      count++;
    }
    for (const entry of this.returned) {
      this.forget(entry);
      count++;
    }
    this.pending.clear();
    this.returned = [];
    this.epoch++;
    this.drops.emit('consent', count);
    return count;
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.closed) throw new OutboxClosedError('getState');
    checkStateKey(key);
    const json = this.state.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as T);
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.closed) throw new OutboxClosedError('setState');
    checkStateKey(key);
    const json = encodeStateValue(key, value);
    if (json === undefined) this.state.delete(key);
    else this.state.set(key, json);
  }

  async persist(): Promise<void> {}

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  /**
   * What is still pending is gone with the outbox: counted as dropped ('unsaved': kept only in
   * memory, it has nowhere left to be), so a shutdown that could not deliver it says so.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const batch of [...this.claimed.keys()]) await this.release(batch);
    this.closed = true;
    this.drops.emit('unsaved', this.events, this.bytes);
  }

  /** Makes room for `bytes` more; false when the new record itself must be dropped. */
  private makeRoom(bytes: number): boolean {
    const fits = (): boolean =>
      this.events + 1 <= this.limits.maxEvents && this.bytes + bytes <= this.limits.maxBytes;
    if (fits()) return true;
    if (this.limits.overflow === 'drop-newest') return false;
    while (!fits()) {
      const oldest = this.peekNext();
      // Only claimed (in-flight) records are left: they cannot be dropped, so the new one is.
      if (oldest === undefined) return false;
      this.takeNext();
      this.forget(oldest);
      this.evicted++;
    }
    return true;
  }

  private enqueue(record: OutboxRecord, bytes: number): void {
    this.pending.push({ record, seq: this.nextSeq++, bytes, epoch: this.epoch });
    this.events++;
    this.bytes += bytes;
  }

  private peekNext(): Entry | undefined {
    const a = this.returned[0];
    const b = this.pending.peek();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return a.seq < b.seq ? a : b;
  }

  private takeNext(): void {
    const a = this.returned[0];
    const b = this.pending.peek();
    if (a !== undefined && (b === undefined || a.seq < b.seq)) this.returned.shift();
    else this.pending.shift();
  }

  private forget(entry: Entry): void {
    this.events--;
    this.bytes -= entry.bytes;
  }

  private isExpired(record: OutboxRecord, nowMs: number): boolean {
    return this.limits.retentionMs > 0 && record.timestampMs < nowMs - this.limits.retentionMs;
  }

  private sweepExpired(): void {
    if (this.limits.retentionMs === 0) return;
    const nowMs = this.retentionNow();
    let expired = 0;
    const keep = (e: Entry): boolean => {
      if (!this.isExpired(e.record, nowMs)) return true;
      this.forget(e);
      expired++;
      return false;
    };
    this.pending.retain(keep);
    this.returned = this.returned.filter(keep);
    this.drops.emit('retention', expired);
  }
}

/** Same checks for every outbox: a claim's limits are positive numbers (Infinity allowed). */
export function checkClaimLimits(maxEvents: number, maxBytes: number): void {
  if (typeof maxEvents !== 'number' || !(maxEvents >= 1)) {
    throw new OutboxOptionError('maxEvents', `must be a number >= 1, got ${String(maxEvents)}`);
  }
  if (typeof maxBytes !== 'number' || !(maxBytes >= 1)) {
    throw new OutboxOptionError('maxBytes', `must be a number >= 1, got ${String(maxBytes)}`);
  }
}

/**
 * Which claimed records `records` names: the same objects `claim` handed out, or (for a caller
 * that copied them) records with the same uuid.
 */
export function claimedMatcher(
  records: readonly OutboxRecord[],
  claimed: readonly { readonly record: OutboxRecord }[],
): (record: OutboxRecord) => boolean {
  const objects = new Set<OutboxRecord>(claimed.map((c) => c.record));
  const byIdentity = new Set<OutboxRecord>();
  const byUuid = new Set<string>();
  for (const r of records) {
    if (r === null || typeof r !== 'object') continue;
    if (objects.has(r)) byIdentity.add(r);
    else if (typeof r.uuid === 'string') byUuid.add(r.uuid);
  }
  return (record) => byIdentity.has(record) || byUuid.has(record.uuid);
}

function mergeBySeq(a: Entry[], b: Entry[]): Entry[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Entry[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) out.push(a[i]!.seq < b[j]!.seq ? a[i++]! : b[j++]!);
  while (i < a.length) out.push(a[i++]!);
  while (j < b.length) out.push(b[j++]!);
  return out;
}

/** A bounded in-memory outbox; `options` are the `OutboxLimits` (defaults in `limits.ts`) and `now`. */
export function createMemoryOutbox(options: MemoryOutboxOptions = {}): Outbox {
  return new MemoryOutbox(options);
}
