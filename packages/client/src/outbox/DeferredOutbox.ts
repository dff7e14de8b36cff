import type { DeadLetter, Outbox, OutboxBatch, OutboxDrop, OutboxRecord, OutboxSize } from './outbox.js';
import { subscribeOnceThere } from './subscribeOnceThere.js';

/**
 * An Outbox whose storage is still loading: the Node file outbox, imported on first use so that
 * `detect.ts` pulls no `node:` module into a browser bundle, or a file outbox still opening its
 * directory (`createFileOutbox`). Appends made meanwhile are kept in
 * order and handed over before anything else reaches the storage (append stays synchronous and
 * never throws); every other call waits for the load. Drop listeners are attached to the storage
 * once it is there.
 *
 * If the load fails (a bundle that left the Node platform out, a factory that throws, a directory
 * that cannot be written), the
 * `fallback` outbox takes over so events keep flowing instead of piling up here, and
 * `loadError` says why. A fallback may itself switch to the storage later: `createFileOutbox`'s
 * tries the directory again and moves to the file outbox once it can (`RecoveringOutbox`,
 * `storesAgain`).
 */
export class DeferredOutbox implements Outbox {
  private target: Outbox | undefined;
  private pending: (readonly OutboxRecord[])[] = [];
  private readonly listeners = new Set<(drop: OutboxDrop) => void>();
  private readonly ready: Promise<Outbox>;
  private failure: unknown = undefined;

  /**
   * `exitTarget`: where appends made before the load go if the process ends first (its
   * `persistOnExit` stores them synchronously): the file outbox being opened. Without one they
   * are lost with the process.
   */
  constructor(
    load: () => Promise<Outbox>,
    fallback: () => Outbox,
    private readonly exitTarget?: Outbox,
  ) {
    this.ready = Promise.resolve()
      .then(load)
      .then(
        (outbox) => outbox,
        (error: unknown) => {
          this.failure = error ?? new Error('outbox load failed');
          return fallback();
        },
      )
      .then((outbox) => {
        outbox.onDrop((drop) => {
          for (const listener of this.listeners) {
            try {
              listener(drop);
            } catch {
              // One broken listener must not stop the others or the storage.
            }
          }
        });
        const pending = this.pending;
        this.pending = [];
        for (const records of pending) outbox.append(records);
        // Set last, in the same turn as the hand-over: no append can slip between the two.
        this.target = outbox;
        return outbox;
      });
  }

  /** Why the storage could not be loaded at first (the fallback took over), or undefined. */
  get loadError(): unknown {
    return this.failure;
  }

  /** Resolves with the storage in use once it is loaded. */
  whenLoaded(): Promise<Outbox> {
    return this.ready;
  }

  append(records: readonly OutboxRecord[]): void {
    if (this.target !== undefined) this.target.append(records);
    else if (Array.isArray(records) && records.length > 0) this.pending.push(records.slice());
  }

  async claim(maxEvents: number, maxBytes: number): Promise<OutboxBatch | null> {
    return (await this.ready).claim(maxEvents, maxBytes);
  }

  async ack(batch: OutboxBatch): Promise<void> {
    return (await this.ready).ack(batch);
  }

  async release(batch: OutboxBatch): Promise<void> {
    return (await this.ready).release(batch);
  }

  async deadLetter(records: readonly OutboxRecord[], reason: string): Promise<number | void> {
    return (await this.ready).deadLetter(records, reason);
  }

  async listDeadLetters(limit?: number): Promise<DeadLetter[]> {
    return (await this.ready).listDeadLetters(limit);
  }

  async replayDeadLetters(uuids?: readonly string[]): Promise<number> {
    return (await this.ready).replayDeadLetters(uuids);
  }

  async purgeDeadLetters(uuids?: readonly string[]): Promise<number> {
    return (await this.ready).purgeDeadLetters(uuids);
  }

  async size(): Promise<OutboxSize> {
    return (await this.ready).size();
  }

  async clear(): Promise<number> {
    return (await this.ready).clear();
  }

  async getState<T = unknown>(key: string): Promise<T | undefined> {
    return (await this.ready).getState<T>(key);
  }

  async setState(key: string, value: unknown): Promise<void> {
    return (await this.ready).setState(key, value);
  }

  async persist(): Promise<void> {
    return (await this.ready).persist();
  }

  /** Not before the storage is loaded: until then, what was tracked waits in this object. */
  keepsAcrossRuns(): boolean {
    return this.target?.keepsAcrossRuns?.() ?? false;
  }

  persistOnExit(): void {
    if (this.target !== undefined) return this.target.persistOnExit?.();
    const exitTarget = this.exitTarget;
    if (exitTarget === undefined) return;
    const pending = this.pending;
    this.pending = [];
    for (const records of pending) exitTarget.append(records);
    exitTarget.persistOnExit?.();
  }

  /** The storage's, once it is loaded (see `Outbox.onKeptFilesLost`). */
  onKeptFilesLost(listener: () => void): () => void {
    return subscribeOnceThere(this.ready, (outbox) => outbox.onKeptFilesLost?.(listener));
  }

  onDrop(listener: (drop: OutboxDrop) => void): () => void {
    // Wrapped so the same function subscribed twice is two subscriptions, as on any outbox.
    const own = (drop: OutboxDrop): void => listener(drop);
    this.listeners.add(own);
    return () => {
      this.listeners.delete(own);
    };
  }

  async close(): Promise<void> {
    return (await this.ready).close();
  }
}
