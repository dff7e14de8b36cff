import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { OutboxOptionError } from './errors.js';
import { IndexedDBOutbox } from './indexeddb.js';
import { resolveOutboxLimits } from './limits.js';
import { BROWSER_OUTBOX_DEFAULTS } from './indexeddb/options.js';
import { LocalStorageOutbox } from './localStorage.js';
import { holdsLocalStorageOutbox } from './localStorage/leftovers.js';
import { LocalStorageTakeover } from './localStorageTakeover.js';
import { createMemoryOutbox } from './memory.js';
import { MemoryStandIn } from './MemoryStandIn.js';
import type {
  DeadLetter,
  Outbox,
  OutboxBatch,
  OutboxDrop,
  OutboxLimits,
  OutboxRecord,
  OutboxSize,
} from './outbox.js';
import { DropListeners } from './records.js';

export type BrowserStorage = 'indexeddb' | 'localStorage' | 'memory';

export interface BrowserOutboxOptions {
  /** Separates the outboxes of different apps on one origin; default 'default'. */
  name?: string;
  /**
   * The storage to try first; default 'indexeddb'. Falls back to localStorage, then memory (whose
   * `persist()` rejects: nothing is stored).
   */
  storage?: BrowserStorage;
  limits?: Partial<OutboxLimits>;
  /** Told which storage was chosen and why a better one could not be used. */
  logger?: Logger;
  /** Write timing and delivery lease of the IndexedDB and localStorage outboxes: see `BrowserOutboxCommonOptions`. */
  persistIntervalMs?: number;
  flushEvents?: number;
  leaseMs?: number;
  flushOnHide?: boolean;
}

const STORAGES: readonly BrowserStorage[] = ['indexeddb', 'localStorage', 'memory'];

/**
 * The browser outbox: IndexedDB when it can be used, else localStorage (bounded by its quota),
 * else memory (nothing survives the page: a `MemoryStandIn`, whose `persist()` rejects naming why,
 * unless the app chose `'memory'`), logging why a storage was passed over. Synchronous:
 * whether IndexedDB opens is only known later (private modes and blocked storage fail the open),
 * so the IndexedDB outbox is wrapped and, if its database cannot be opened, replaced by the next
 * storage with the records appended meanwhile moved over.
 */
export function createBrowserOutbox(options: BrowserOutboxOptions = {}): Outbox {
  if (options === null || typeof options !== 'object')
    throw new OutboxOptionError('options', 'must be an object');
  const storage = options.storage ?? 'indexeddb';
  if (!STORAGES.includes(storage)) {
    throw new OutboxOptionError(
      'storage',
      `must be one of 'indexeddb', 'localStorage', 'memory', got ${String(storage)}`,
    );
  }
  // Validated here so a bad limit names "limits.x" instead of failing inside a fallback.
  const limits = resolveOutboxLimits(options.limits, 'limits.');
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const common = {
    ...limits,
    ...(name === undefined ? {} : { name }),
    ...(options.persistIntervalMs === undefined ? {} : { persistIntervalMs: options.persistIntervalMs }),
    ...(options.flushEvents === undefined ? {} : { flushEvents: options.flushEvents }),
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
    ...(options.flushOnHide === undefined ? {} : { flushOnHide: options.flushOnHide }),
    logger,
  };

  const memory = (): Outbox => {
    logger.debug('outbox storage: memory (nothing survives the page)');
    return createMemoryOutbox(limits);
  };
  // A durable storage was asked for and none can be had (a sandboxed or cross-origin frame with
  // storage blocked, a data: URL): events are still delivered from memory while the page lives,
  // but persist() rejects, so neither the app nor stats().persisted takes them as stored.
  const standIn = (failure: unknown): Outbox => {
    logger.debug('outbox storage: memory (nothing survives the page)');
    return new MemoryStandIn(limits, failure);
  };
  // The same name as the IndexedDB outbox's, so a later load finds what a fallback left.
  const localOptions = () => {
    // Its own default maxBytes (LOCAL_STORAGE_MAX_BYTES) unless the app set one.
    const { maxBytes: _resolved, ...rest } = common;
    return options.limits?.maxBytes === undefined ? rest : { ...rest, maxBytes: options.limits.maxBytes };
  };
  /** `indexedDBFailure`: why IndexedDB was passed over, when it was. */
  const local = (indexedDBFailure?: unknown): Outbox => {
    try {
      const outbox = new LocalStorageOutbox(localOptions());
      logger.debug('outbox storage: localStorage');
      return outbox;
    } catch (error) {
      if (error instanceof OutboxOptionError && error.option !== 'storage') throw error;
      logger.warn('localStorage cannot be used for the outbox; falling back to memory', { error });
      return standIn(
        indexedDBFailure === undefined
          ? error
          : new AggregateError([indexedDBFailure, error], 'neither IndexedDB nor localStorage can be used'),
      );
    }
  };
  if (storage === 'memory') return memory();
  if (storage === 'localStorage') return local();
  let idb: IndexedDBOutbox;
  try {
    idb = new IndexedDBOutbox(common);
  } catch (error) {
    if (error instanceof OutboxOptionError && error.option !== 'indexedDB') throw error;
    logger.warn('IndexedDB cannot be used for the outbox; falling back to localStorage', { error });
    return local(error);
  }
  // What an earlier load's fallback left (the app chose IndexedDB: never an explicit 'localStorage').
  const leftovers = (): LocalStorageOutbox | null =>
    holdsLocalStorageOutbox(name ?? BROWSER_OUTBOX_DEFAULTS.name)
      ? new LocalStorageOutbox({ ...localOptions(), flushOnHide: false })
      : null;
  return new FallbackOutbox(idb, local, leftovers, logger);
}

/**
 * Delegates to the IndexedDB outbox, or to the fallback once its database failed to open (or
 * did not open in time: `OPEN_TIMEOUT_MS`). Appends go straight through (the IndexedDB outbox
 * buffers them until it knows); everything else waits for that answer first, but the unload
 * claim, which cannot wait. Once IndexedDB opens, what a localStorage fallback of an earlier load
 * (or another tab) left is taken over first (`LocalStorageTakeover`): an open that was only slow
 * must not strand its records there.
 */
class FallbackOutbox implements Outbox {
  private current: Outbox;
  private readonly ready: Promise<void>;
  /**
   * Unload batches the IndexedDB outbox handed out while its open was pending. If the open then
   * fails, their records are not moved over: an ack of the batch means sent (moved over they
   * were sent again and counted twice), and a release moves them over then.
   */
  private readonly unloadBeforeOpen = new Set<OutboxBatch>();
  private opening = true;
  private fellBack = false;
  private readonly drops = new DropListeners();
  private readonly forward = (d: OutboxDrop): void => this.drops.emit(d.reason, d.count, d.bytes);
  private readonly takeover: LocalStorageTakeover;

  constructor(
    idb: IndexedDBOutbox,
    /** Called with the open's failure. */
    fallback: (failure: unknown) => Outbox,
    leftovers: () => LocalStorageOutbox | null,
    logger: Logger,
  ) {
    this.current = idb;
    idb.onDrop(this.forward);
    idb.fallsBackOnFailedOpen();
    this.takeover = new LocalStorageTakeover({
      open: leftovers,
      target: idb,
      dropped: (count) => this.drops.emit('consent', count),
      forward: this.forward,
      logger,
    });
    this.ready = idb.opened.then(
      async () => {
        // The IndexedDB outbox settles its own unload batches.
        this.opening = false;
        this.unloadBeforeOpen.clear();
        logger.debug('outbox storage: IndexedDB');
        // Before anything else, so size() and claim() see them (and this tab's own delivery,
        // which takes the same lock, does not keep it from them).
        await this.takeover.run();
      },
      async (error: unknown) => {
        logger.warn('the IndexedDB outbox could not be opened; falling back to localStorage', { error });
        await idb.close();
        const next = fallback(error);
        next.onDrop(this.forward);
        const held = new Set([...this.unloadBeforeOpen].flatMap((b) => b.records.map((r) => r.uuid)));
        next.append(idb.takeUnwritten().filter((r) => !held.has(r.uuid)));
        this.current = next;
        this.opening = false;
        this.fellBack = true;
      },
    );
  }

  append(records: readonly OutboxRecord[]): void {
    this.current.append(records);
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    await this.ready;
    return this.current.claim(maxEvents, maxBytes);
  }

  /** The storage in use now: IndexedDB's records in memory until its open failed, then the fallback's. */
  claimInMemory(maxEvents: number, maxBytes: number): OutboxBatch | null {
    const batch = this.current.claimInMemory?.(maxEvents, maxBytes) ?? null;
    if (batch !== null && this.opening) this.unloadBeforeOpen.add(batch);
    return batch;
  }

  inFlight(): OutboxRecord[] {
    return this.current.inFlight?.() ?? [];
  }

  async ack(batch: OutboxBatch): Promise<void> {
    await this.ready;
    if (this.fellBack && this.unloadBeforeOpen.delete(batch)) return;
    return this.current.ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    await this.ready;
    if (this.fellBack && this.unloadBeforeOpen.delete(batch)) return this.current.append(batch.records);
    return this.current.release(batch);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number | void> {
    await this.ready;
    return this.current.deadLetter(records, reason);
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    await this.ready;
    return this.current.listDeadLetters(limit);
  }

  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    await this.ready;
    return this.current.replayDeadLetters(uuids);
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    await this.ready;
    if (this.fellBack || uuids !== undefined) return this.current.purgeDeadLetters(uuids);
    // All of them: those localStorage still holds too (another tab kept them from the takeover).
    this.takeover.dropDeadLettersUpTo(Date.now());
    await this.takeover.idle();
    const purged = await this.current.purgeDeadLetters();
    return purged + (await this.takeover.run()).deadLetters;
  }

  async size(): Promise<OutboxSize> {
    await this.ready;
    return this.current.size();
  }

  async clear(): Promise<number> {
    await this.ready;
    if (this.fellBack) return this.current.clear();
    // Records localStorage still holds (another tab kept them from the takeover) are dropped
    // there, never moved here after this; a move under way ends first and is cleared here.
    this.takeover.dropRecordsUpTo(Date.now());
    await this.takeover.idle();
    const cleared = await this.current.clear();
    return cleared + (await this.takeover.run()).records;
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    await this.ready;
    return this.current.getState<T>(key);
  }

  async setState(key: string, value: unknown): Promise<void> {
    await this.ready;
    return this.current.setState(key, value);
  }

  async persist(): Promise<void> {
    await this.ready;
    return this.current.persist();
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    return this.drops.add(listener);
  }

  async close(): Promise<void> {
    await this.ready;
    await this.takeover.stop();
    return this.current.close();
  }
}
