import { type Backoff, exponentialBackoff } from '@homing/resilience';
import type { Logger } from '../logger.js';
import type { MemoryStandIn } from './MemoryStandIn.js';
import type { DeadLetter, Outbox, OutboxBatch, OutboxDrop, OutboxRecord, OutboxSize } from './outbox.js';
import { DropListeners } from './records.js';
import { stateToKeep } from './stateAfterRecovery.js';
import { subscribeOnceThere } from './subscribeOnceThere.js';

/** An outbox that stores, and can take in dead letters made elsewhere (the file outbox). */
export interface DurableOutbox extends Outbox {
  /** Stores these dead letters as they are (reason, time); skips uuids it holds already. */
  adoptDeadLetters(letters: readonly DeadLetter[]): Promise<void>;
}

export interface RecoveringOutboxOptions {
  /** What serves meanwhile. */
  readonly memory: MemoryStandIn;
  /** Opens the durable outbox; rejects while it cannot be used (having closed what it made). */
  readonly open: () => Promise<DurableOutbox>;
  readonly logger: Logger;
  /** Named in the log line of the recovery. */
  readonly directory?: string;
  /** The waits between attempts; default `REOPEN_BACKOFF`. */
  readonly backoff?: Backoff;
}

/**
 * The waits between attempts to open the durable outbox: 1 s, doubling, then every minute. A
 * directory is fixed by someone (a full disk cleaned, a permission set); a minute late is soon
 * enough for that, and a failed open costs a few system calls.
 */
export const REOPEN_BACKOFF: Backoff = exponentialBackoff({
  initialMs: 1_000,
  factor: 2,
  maxMs: 60_000,
  jitter: 'none',
});

/**
 * A memory outbox standing in for a durable one that could not be opened at start (a read-only
 * or full directory, a file in its way, no file descriptor free), which tries the durable one
 * again, with backoff, and switches to it once it opens: a service whose disk is fixed a minute
 * after it started then keeps its events on disk again, instead of in memory for days.
 *
 * The switch, once:
 * - In one turn: what memory holds and nobody has claimed goes to the durable outbox, in order,
 *   and every call after goes there. Records appended meanwhile are never behind it.
 * - Batches claimed from memory before are still memory's: their ack, release or dead-letter go
 *   there. Released, their records move to the durable outbox then (claimable once, there);
 *   acked, they are gone. Until settled they count in `size()`, and at exit (`persistOnExit`)
 *   or close they are written to the durable outbox: sent twice, rather than lost.
 * - Then the dead letters move, and the state keys set in memory (`stateToKeep`: what the
 *   durable outbox holds already mostly wins); calls on dead letters and state wait for it.
 * - One line is logged: how many events moved to disk.
 *
 * Attempts run on unref'd timers (they never keep a process alive) and stop at `close()`. After
 * the switch, failures of the durable outbox are its own business (it handles a directory
 * deleted or replaced under it).
 */
export class RecoveringOutbox implements Outbox {
  private durable: DurableOutbox | undefined;
  private readonly memory: MemoryStandIn;
  /** Batches claimed from memory and not settled yet: settled there, switch or no switch. */
  private readonly memoryBatches = new Set<OutboxBatch>();
  private readonly drops = new DropListeners();
  private readonly delays: { next(): number };
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  /** The dead letters and state moving to the durable outbox after the switch. */
  private moved: Promise<void> = Promise.resolve();
  /** Dead-letter moves, one after another (each lists what memory holds then). */
  private deadLetterMoves: Promise<unknown> = Promise.resolve();
  private recovered: () => void = () => {};
  private readonly recovery = new Promise<void>((resolve) => (this.recovered = resolve));
  /** `persistOnExit` ran: what memory held went to the durable outbox once. */
  private exited = false;

  constructor(private readonly o: RecoveringOutboxOptions) {
    this.memory = o.memory;
    this.memory.onDrop((drop) => this.forward(drop));
    this.delays = (o.backoff ?? REOPEN_BACKOFF).start();
    this.schedule();
  }

  /** Whether the durable outbox took over. */
  get durableNow(): boolean {
    return this.durable !== undefined;
  }

  /** Resolves once the durable outbox took over and what memory held moved (never, if closed first). */
  whenRecovered(): Promise<void> {
    return this.recovery;
  }

  append(records: readonly OutboxRecord[]): void {
    (this.durable ?? this.memory).append(records);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    if (this.durable !== undefined) return this.durable.claim(maxEvents, maxBytes);
    const batch = await this.memory.claim(maxEvents, maxBytes);
    if (batch !== null) this.memoryBatches.add(batch);
    return batch;
  }

  async ack(batch: OutboxBatch): Promise<void> {
    if (this.memoryBatches.delete(batch)) return this.memory.ack(batch);
    return (this.durable ?? this.memory).ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    if (!this.memoryBatches.delete(batch)) return (this.durable ?? this.memory).release(batch);
    await this.memory.release(batch);
    if (this.durable !== undefined) this.moveRecords(this.durable);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.deadLetter(records, reason);
    const fromMemory = this.claimedFromMemory(records);
    let stored = 0;
    if (fromMemory.size > 0) {
      stored += await this.memory.deadLetter([...fromMemory], reason);
      // Dead-lettered in memory already: a move that fails leaves them listed from there.
      await this.moveDeadLetters(durable).catch((error: unknown) => this.warnDeadLettersKept(error));
    }
    const rest = Array.isArray(records) ? records.filter((r) => !fromMemory.has(r)) : [];
    if (fromMemory.size === 0 || rest.length > 0) {
      await this.moved;
      const more = await durable.deadLetter(rest, reason);
      stored += typeof more === 'number' ? more : rest.length;
    }
    return stored;
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.listDeadLetters(limit);
    await this.moved;
    const stored = await durable.listDeadLetters(limit);
    const left = await this.memory.listDeadLetters(limit);
    if (left.length === 0) return stored;
    const all = [...stored, ...left].sort((a, b) => a.deadLetteredAtMs - b.deadLetteredAtMs);
    const max = limit === undefined ? Infinity : Math.max(0, Math.floor(Number(limit)) || 0);
    return all.slice(0, max);
  }

  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.replayDeadLetters(uuids);
    await this.moved;
    const fromMemory = await this.memory.replayDeadLetters(uuids);
    this.moveRecords(durable);
    return fromMemory + (await durable.replayDeadLetters(uuids));
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.purgeDeadLetters(uuids);
    await this.moved;
    return (await this.memory.purgeDeadLetters(uuids)) + (await durable.purgeDeadLetters(uuids));
  }

  async size(): Promise<OutboxSize> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.size();
    // Dead letters being moved would be counted in both.
    await this.moved;
    const [stored, held] = await Promise.all([durable.size(), this.memory.size()]);
    const oldest = [stored.oldestTimestampMs, held.oldestTimestampMs].filter((t): t is number => t !== null);
    return {
      events: stored.events + held.events,
      bytes: stored.bytes + held.bytes,
      oldestTimestampMs: oldest.length === 0 ? null : Math.min(...oldest),
      deadLetters: stored.deadLetters + held.deadLetters,
    };
  }

  async clear(): Promise<number> {
    const durable = this.durable;
    if (durable === undefined) return this.memory.clear();
    // In memory too: batches claimed there before the switch are dropped when released.
    return (await this.memory.clear()) + (await durable.clear());
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    if (this.durable === undefined) return this.memory.getState<T>(key);
    await this.moved;
    return this.durable.getState<T>(key);
  }

  async setState(key: string, value: unknown): Promise<void> {
    if (this.durable === undefined) return this.memory.setState(key, value);
    // After the stand-in's value moved: this one is newer.
    await this.moved;
    return this.durable.setState(key, value);
  }

  /** Rejects while on memory (nothing is stored); the durable outbox's once it took over. */
  async persist(): Promise<void> {
    if (this.durable === undefined) return this.memory.persist();
    return this.durable.persist();
  }

  /** Once the durable outbox took over (what memory held moves to it, at the latest at exit). */
  keepsAcrossRuns(): boolean {
    return this.durable?.keepsAcrossRuns?.() ?? false;
  }

  persistOnExit(): void {
    const durable = this.durable;
    // On memory: there is nowhere to write to; what it holds ends with the process.
    if (durable === undefined) return;
    if (!this.exited) {
      this.exited = true;
      // Batches claimed from memory and not acked: written too, sent twice rather than lost.
      const inFlight = this.memory.inFlight();
      if (inFlight.length > 0) durable.append(inFlight);
      this.moveRecords(durable);
    }
    durable.persistOnExit?.();
  }

  /**
   * The durable outbox's, once it took over (see `Outbox.onKeptFilesLost`); the take-over itself
   * is told by `whenRecovered`.
   */
  onKeptFilesLost(listener: () => void): () => void {
    return subscribeOnceThere(
      this.recovery.then(() => this.durable!),
      (outbox) => outbox.onKeptFilesLost?.(listener),
    );
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    // An open under way that succeeds still switches: what memory holds is then stored.
    await this.attempt;
    const durable = this.durable;
    if (durable === undefined) return this.memory.close();
    await this.moved;
    // Not settled by now: back in the queue, on disk, for the next run (a request that still
    // gets through sends them twice; the uuid dedups them).
    for (const batch of [...this.memoryBatches]) {
      this.memoryBatches.delete(batch);
      await this.memory.release(batch);
    }
    this.moveRecords(durable);
    await this.moveDeadLetters(durable).catch((error: unknown) => this.warnDeadLettersKept(error));
    await durable.close();
    await this.memory.close();
  }

  private schedule(): void {
    if (this.closing !== undefined || this.durable !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.attempt = this.reopen();
    }, this.delays.next());
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async reopen(): Promise<void> {
    let durable: DurableOutbox;
    try {
      durable = await this.o.open();
    } catch (error) {
      this.o.logger.debug('outbox: the directory still cannot be used', {
        directory: this.o.directory,
        error: String(error),
      });
      return this.schedule();
    }
    this.switchTo(durable);
  }

  /** Synchronous: no append, claim or settle can come between the move and the switch. */
  private switchTo(durable: DurableOutbox): void {
    durable.onDrop((drop) => this.forward(drop));
    const events = this.moveRecords(durable);
    this.durable = durable;
    this.moved = this.moveRest(durable, events);
    void this.moved.then(this.recovered);
  }

  private async moveRest(durable: DurableOutbox, events: number): Promise<void> {
    let deadLetters = 0;
    try {
      deadLetters = await this.moveDeadLetters(durable);
    } catch (error) {
      this.warnDeadLettersKept(error);
    }
    try {
      await this.moveState(durable);
    } catch (error) {
      // What the process sets from here on is stored; what it set before is not (its breaker
      // state is saved again at its next change).
      this.o.logger.warn('outbox: the state kept in memory could not be moved to disk', {
        directory: this.o.directory,
        error: String(error),
      });
    }
    this.o.logger.warn(`outbox: the directory can be used again; ${events} events moved to disk`, {
      directory: this.o.directory,
      events,
      deadLetters,
    });
  }

  /** What memory holds unclaimed, in order, into `durable`, at once; answers how many. */
  private moveRecords(durable: DurableOutbox): number {
    const taken = this.memory.claimInMemory(Infinity, Infinity);
    if (taken === null) return 0;
    durable.append(taken.records);
    void this.memory.ack(taken);
    return taken.records.length;
  }

  /** Memory's dead letters into `durable`; answers how many. */
  private moveDeadLetters(durable: DurableOutbox): Promise<number> {
    const move = this.deadLetterMoves.then(async () => {
      const letters = await this.memory.listDeadLetters();
      if (letters.length === 0) return 0;
      await durable.adoptDeadLetters(letters);
      await this.memory.purgeDeadLetters(letters.map((l) => l.record.uuid));
      return letters.length;
    });
    this.deadLetterMoves = move.catch(() => undefined);
    return move;
  }

  private async moveState(durable: DurableOutbox): Promise<void> {
    for (const key of this.memory.stateKeys) {
      const fromMemory = await this.memory.getState(key);
      if (fromMemory === undefined) continue;
      const value = stateToKeep(key, fromMemory, await durable.getState(key));
      if (value !== undefined) await durable.setState(key, value);
    }
  }

  /** Those of `records` that batches claimed from memory hold (the same objects, or uuids). */
  private claimedFromMemory(records: readonly OutboxRecord[]): Set<OutboxRecord> {
    const objects = new Set<OutboxRecord>();
    const uuids = new Set<string>();
    for (const batch of this.memoryBatches) {
      for (const r of batch.records) {
        objects.add(r);
        uuids.add(r.uuid);
      }
    }
    const mine = new Set<OutboxRecord>();
    if (!Array.isArray(records)) return mine;
    for (const r of records as unknown[]) {
      if (r === null || typeof r !== 'object') continue;
      const record = r as OutboxRecord;
      if (objects.has(record) || uuids.has(record.uuid)) mine.add(record);
    }
    return mine;
  }

  private warnDeadLettersKept(error: unknown): void {
    this.o.logger.warn('outbox: dead letters kept in memory could not be moved to disk', {
      directory: this.o.directory,
      error: String(error),
    });
  }

  private forward(drop: OutboxDrop): void {
    this.drops.emit(drop.reason, drop.count, drop.bytes);
  }
}
