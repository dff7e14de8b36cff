import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch } from '../outbox/outbox.js';
import type { BatchSender } from './BatchSender.js';
import type { DeliveryOptions } from './deliveryOptions.js';
import type { EndpointChannel } from './EndpointChannel.js';

export interface DrainSummary {
  claimed: number;
  /** Stopped because no endpoint could take more right now (backoff, open circuit, release). */
  blocked: boolean;
}

export interface DeliveryLoopDeps {
  readonly outbox: Outbox;
  readonly options: DeliveryOptions;
  readonly channels: readonly EndpointChannel[];
  readonly sender: BatchSender;
  readonly logger: Logger;
  /** Aborted at shutdown: a flush waiting for an endpoint's backoff stops waiting. */
  readonly signal: AbortSignal;
  /** Not closed, not paused, online. */
  readonly canSend: () => boolean;
  /** Resolves once the saved breaker states are restored: nothing is claimed before. */
  readonly restored: () => Promise<void>;
}

/**
 * When batches go out: one drain at a time per delivery (`concurrency` workers that claim and
 * deliver until the outbox is empty or no endpoint is ready), started when a batch is full,
 * every `intervalMs`, or when a failed endpoint's wait is over (one unref'd timer, set to the
 * earliest of those). Claims are serialised, so two workers never race for one endpoint chain.
 */
export class DeliveryLoop {
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private draining: Promise<DrainSummary> | undefined;
  private drainAgain = false;
  private claimLock: Promise<unknown> = Promise.resolve();
  private appendedSinceKick = 0;

  constructor(private readonly deps: DeliveryLoopDeps) {}

  /** `count` events were appended: a full batch goes out at once. */
  noteAppended(count: number): void {
    this.appendedSinceKick += count > 0 ? count : 1;
    if (this.appendedSinceKick >= this.deps.options.batchSize) this.kick();
  }

  /** Starts a drain now, or one more right after the running one. */
  kick(): void {
    this.appendedSinceKick = 0;
    if (!this.deps.canSend()) return;
    if (this.draining !== undefined) this.drainAgain = true;
    else void this.startDrain();
  }

  /** Stops the timer; no drain starts or is scheduled after this. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when the running drain (if any) has ended. */
  async idle(): Promise<void> {
    await this.draining?.catch(() => undefined);
  }

  /**
   * Drains until the outbox is empty, waiting for backoff and Retry-After delays that end
   * before `deadline`; stops early when nothing more can go out in time.
   */
  async drainUntilDone(deadline: number, expired: () => boolean): Promise<void> {
    await this.deps.restored();
    while (this.deps.canSend() && !expired()) {
      const summary = await this.drainNow();
      if (!summary.blocked) {
        if (summary.claimed === 0 || (await this.pendingCount()) === 0) return;
        continue;
      }
      const now = Date.now();
      const at = this.earliestReady(now);
      if (at >= deadline) return;
      await waitUntil(at, this.deps.signal);
    }
  }

  /** One claim at a time: never two claims racing for one endpoint chain. */
  claim(
    maxEvents = this.deps.sender.claimLimit(),
    maxBytes = this.deps.options.batchBytes,
  ): Promise<OutboxBatch | null> {
    const next = this.claimLock.then(() => this.deps.outbox.claim(maxEvents, maxBytes));
    this.claimLock = next.catch(() => undefined);
    return next;
  }

  /** Events still in the outbox; -1 when the outbox could not say. */
  async pendingCount(): Promise<number> {
    try {
      return (await this.deps.outbox.size()).events;
    } catch {
      return -1;
    }
  }

  /** Wakes the loop at `at` unless it is already due to wake earlier. */
  schedule(at: number): void {
    if (this.closed || !Number.isFinite(at)) return;
    if (this.timer !== undefined && this.wakeAt <= at) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.wakeAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.wakeAt = Number.POSITIVE_INFINITY;
        this.kick();
        // Paused or offline: look again at the next interval.
        if (!this.deps.canSend()) this.schedule(Date.now() + this.deps.options.intervalMs);
      },
      Math.max(0, at - Date.now()),
    );
    (this.timer as { unref?: () => void }).unref?.();
  }

  /** Resolves with a drain that began after this call: the running one is waited for first. */
  private drainNow(): Promise<DrainSummary> {
    const current = this.draining;
    if (current === undefined) return this.startDrain();
    // The running drain may have claimed before the latest appends: run one more after it
    // (or join the one its end already started).
    return current.then(() => this.draining ?? this.startDrain());
  }

  private startDrain(): Promise<DrainSummary> {
    this.drainAgain = false;
    const run = this.drain()
      .catch((error: unknown): DrainSummary => {
        this.deps.logger.error('delivery loop failed', { error });
        return { claimed: 0, blocked: true };
      })
      .finally(() => {
        this.draining = undefined;
        if (this.drainAgain && this.deps.canSend()) void this.startDrain();
      });
    this.draining = run;
    return run;
  }

  private async drain(): Promise<DrainSummary> {
    await this.deps.restored();
    const summary: DrainSummary = { claimed: 0, blocked: false };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < this.deps.options.concurrency; i++) workers.push(this.worker(summary));
    await Promise.all(workers);
    const now = Date.now();
    let next = now + this.deps.options.intervalMs;
    if (summary.blocked) next = Math.min(next, this.earliestReady(now));
    this.schedule(next);
    return summary;
  }

  private async worker(summary: DrainSummary): Promise<void> {
    while (this.deps.canSend()) {
      const now = Date.now();
      const ready = this.deps.channels.filter((c) => c.isReady(now));
      if (ready.length === 0) {
        summary.blocked = true;
        return;
      }
      let batch: OutboxBatch | null;
      try {
        batch = await this.claim();
      } catch (error) {
        this.deps.logger.error('could not claim a batch from the outbox', { error });
        summary.blocked = true;
        return;
      }
      if (batch === null) return;
      // Another worker's attempt may have failed while this claim waited its turn: an endpoint
      // that is now waiting out a retry must not get this batch too.
      const stillReady = ready.filter((c) => c.isReady(Date.now()));
      if (stillReady.length === 0) {
        await this.deps.outbox.release(batch).catch((error: unknown) => {
          this.deps.logger.error('could not release a batch to the outbox', { error });
        });
        summary.blocked = true;
        return;
      }
      summary.claimed += batch.records.length;
      const progressed = await this.deps.sender.deliver(batch, stillReady);
      if (!progressed) {
        summary.blocked = true;
        return;
      }
    }
  }

  private earliestReady(now: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const channel of this.deps.channels) at = Math.min(at, channel.readyAt(now));
    return at;
  }
}

/** Waits until `at` (or until shutdown). Not unref'd: whoever awaits a flush wants it to go on. */
function waitUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, at - Date.now()));
    signal.addEventListener('abort', done, { once: true });
  });
}
