import type { EmitClientEvent } from '../events.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch, OutboxRecord } from '../outbox/outbox.js';
import type { Platform } from '../platform/platform.js';
import type { BatchDecision, EndpointResult } from './decideBatch.js';
import { decideBatch } from './decideBatch.js';
import type { DeliveryOptions } from './deliveryOptions.js';
import type { EndpointSnapshot } from './EndpointChannel.js';
import { EndpointChannel, ENDPOINTS_STATE_KEY } from './EndpointChannel.js';
import { DeliveryBusyError, DeliveryOptionError } from './errors.js';
import { sendPendingOnUnload } from './sendOnUnload.js';

export { resolveDeliveryOptions } from './deliveryOptions.js';
export type { DeliveryOptions, DeliveryOptionsInput } from './deliveryOptions.js';

export interface DeliveryStats {
  /** Events acknowledged by an endpoint. */
  sent: number;
  /** Requests that failed (any reason). */
  failedAttempts: number;
  /** Batches given back to the outbox to be tried again later. */
  retried: number;
  /** Events moved to the dead-letter store. */
  deadLettered: number;
  /** Batches being sent now. */
  inFlight: number;
  paused: boolean;
  online: boolean;
  breakers: Record<string, EndpointSnapshot>;
  lastError: { endpoint: string; reason: string; atMs: number } | null;
}

export interface DeliveryDeps {
  platform: Platform;
  logger: Logger;
  emit: EmitClientEvent;
}

export interface FlushResult {
  /** Events acknowledged during this flush. */
  sent: number;
  /** Events still in the outbox afterwards (-1 when the outbox could not say). */
  pending: number;
  timedOut: boolean;
}

interface DrainSummary {
  claimed: number;
  /** Stopped because no endpoint could take more right now (backoff, open circuit, release). */
  blocked: boolean;
}

/** Outboxes that have a running delivery loop in this process. */
const active = new WeakSet<Outbox>();

/**
 * Takes batches out of the outbox and gets them to the endpoints: claim (in flight) → send →
 * ack / release / dead-letter. One loop per outbox; the loop runs when a batch is full
 * (`notify`), every `intervalMs`, or when a failed endpoint's wait is over. A failing endpoint
 * waits by timestamp, with its records released: nothing sleeps while holding a claim, and
 * events keep flowing into the outbox whatever the endpoints do.
 */
export class Delivery {
  private readonly channels: EndpointChannel[];
  private readonly shutdownController = new AbortController();
  private restored: Promise<void> = Promise.resolve();
  private started = false;
  private closed = false;
  private shuttingDown: Promise<void> | undefined;
  private paused = false;
  private online: boolean;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private draining: Promise<DrainSummary> | undefined;
  private drainAgain = false;
  private claimLock: Promise<unknown> = Promise.resolve();
  private appendedSinceKick = 0;
  /** After a 413: claim at most this many until batches get through again. */
  private splitLimit: number | undefined;
  private exitHandled = false;
  private readonly unsubscribe: Array<() => void> = [];
  private readonly counters = { sent: 0, failedAttempts: 0, retried: 0, deadLettered: 0, inFlight: 0 };
  private lastError: DeliveryStats['lastError'] = null;

  constructor(
    private readonly outbox: Outbox,
    private readonly options: DeliveryOptions,
    private readonly deps: DeliveryDeps,
  ) {
    if (outbox === null || typeof outbox !== 'object' || typeof outbox.claim !== 'function') {
      throw new DeliveryOptionError('outbox', 'must be an Outbox');
    }
    if (options === null || typeof options !== 'object' || !Array.isArray(options.endpoints)) {
      throw new DeliveryOptionError('options', 'must come from resolveDeliveryOptions(...)');
    }
    this.online = deps.platform.isOnline();
    this.channels = options.endpoints.map(
      (endpoint) => new EndpointChannel(endpoint, options, { outbox, ...deps }),
    );
  }

  /** Restores the saved breaker states and starts the unref'd loop. Throws if this outbox already has a loop. */
  start(): void {
    if (this.started || this.closed) return;
    if (active.has(this.outbox)) throw new DeliveryBusyError();
    active.add(this.outbox);
    this.started = true;
    this.restored = this.restore();
    const { platform } = this.deps;
    this.unsubscribe.push(
      platform.onOnlineChange((online) => {
        this.online = online;
        if (online) this.kick();
      }),
    );
    if (this.options.flushOnExit) this.unsubscribe.push(platform.onExit(() => this.onHostExit()));
    this.schedule(Date.now() + this.options.intervalMs);
  }

  /** Called after each append (`count` events): a full batch goes out at once. */
  notify(count = 1): void {
    this.exitHandled = false;
    this.appendedSinceKick += count > 0 ? count : 1;
    if (this.appendedSinceKick >= this.options.batchSize) this.kick();
  }

  /**
   * Holds every event in the outbox while true (consent 'pending'); sending resumes when set
   * back to false. Requests already in flight finish.
   */
  setPaused(paused: boolean): void {
    this.paused = paused === true;
    if (!this.paused) this.kick();
  }

  /**
   * Sends everything pending now, waiting for backoff and Retry-After delays that end before
   * the deadline. Stops early when nothing more can go out in time (an open circuit, paused,
   * offline). In-flight requests are not cut at the deadline; they finish in the background.
   */
  async flush(timeoutMs: number): Promise<FlushResult> {
    checkTimeout(timeoutMs);
    const sentBefore = this.counters.sent;
    const deadline = Date.now() + timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutMs);
    });
    try {
      await Promise.race([this.drainUntilDone(deadline, () => timedOut), expired]);
    } finally {
      clearTimeout(timer);
    }
    return { sent: this.counters.sent - sentBefore, pending: await this.pendingCount(), timedOut };
  }

  /**
   * Flushes within `timeoutMs` (unless paused), then stops: aborts what is still in flight (its
   * records are released, so the next run sends them), clears every timer and listener, and
   * waits for the breaker snapshots to be stored. Leaves the outbox open (its owner closes it).
   */
  shutdown(timeoutMs: number): Promise<void> {
    checkTimeout(timeoutMs);
    this.shuttingDown ??= this.stop(timeoutMs);
    return this.shuttingDown;
  }

  stats(): DeliveryStats {
    const now = Date.now();
    const breakers: Record<string, EndpointSnapshot> = {};
    for (const channel of this.channels) breakers[channel.id] = channel.snapshot(now);
    return {
      ...this.counters,
      paused: this.paused,
      online: this.online,
      breakers,
      lastError: this.lastError === null ? null : { ...this.lastError },
    };
  }

  private async stop(timeoutMs: number): Promise<void> {
    if (this.started && !this.paused) {
      try {
        await this.flush(timeoutMs);
      } catch (error) {
        this.deps.logger.warn('flush at shutdown failed', { error });
      }
    }
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
    this.shutdownController.abort();
    // Aborted requests settle at once: their batches are released before we return.
    await this.draining?.catch(() => undefined);
    await this.restored;
    await Promise.all(this.channels.map((c) => c.settled()));
    for (const channel of this.channels) channel.dispose();
    if (this.started) active.delete(this.outbox);
  }

  private async restore(): Promise<void> {
    await Promise.all(this.channels.map((c) => c.restore()));
    try {
      const known = await this.outbox.getState<unknown>(ENDPOINTS_STATE_KEY);
      const ids = new Set(
        Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : [],
      );
      const before = ids.size;
      for (const channel of this.channels) ids.add(channel.id);
      // Bounded: endpoints come and go over the life of an install.
      if (ids.size !== before) await this.outbox.setState(ENDPOINTS_STATE_KEY, [...ids].slice(-32));
    } catch (error) {
      this.deps.logger.warn('could not record the endpoint list in the outbox state', { error });
    }
  }

  private canSend(): boolean {
    return !this.closed && !this.paused && this.online;
  }

  /** Starts a drain now, or one more right after the running one. */
  private kick(): void {
    this.appendedSinceKick = 0;
    if (!this.canSend()) return;
    if (this.draining !== undefined) this.drainAgain = true;
    else void this.startDrain();
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
        if (this.drainAgain && this.canSend()) void this.startDrain();
      });
    this.draining = run;
    return run;
  }

  private async drain(): Promise<DrainSummary> {
    await this.restored;
    const summary: DrainSummary = { claimed: 0, blocked: false };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < this.options.concurrency; i++) workers.push(this.worker(summary));
    await Promise.all(workers);
    const now = Date.now();
    let next = now + this.options.intervalMs;
    if (summary.blocked) next = Math.min(next, this.earliestReady(now));
    this.schedule(next);
    return summary;
  }

  private async worker(summary: DrainSummary): Promise<void> {
    while (this.canSend()) {
      const now = Date.now();
      const ready = this.channels.filter((c) => c.isReady(now));
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
      summary.claimed += batch.records.length;
      const progressed = await this.deliver(batch, ready);
      if (!progressed) {
        summary.blocked = true;
        return;
      }
    }
  }

  /** One claim at a time: never two claims racing for one endpoint chain. */
  private claim(
    maxEvents = Math.min(this.options.batchSize, this.splitLimit ?? Number.POSITIVE_INFINITY),
    maxBytes = this.options.batchBytes,
  ): Promise<OutboxBatch | null> {
    const next = this.claimLock.then(() => this.outbox.claim(maxEvents, maxBytes));
    this.claimLock = next.catch(() => undefined);
    return next;
  }

  /** Sends one claimed batch and settles it; false when it was given back to wait. */
  private async deliver(batch: OutboxBatch, ready: readonly EndpointChannel[]): Promise<boolean> {
    this.counters.inFlight++;
    let decision: BatchDecision;
    try {
      const results = await this.send(batch.records, ready);
      decision = decideBatch(results, this.channels.length, batch.records.length);
    } catch (error) {
      this.deps.logger.error('unexpected failure while sending a batch', { error });
      decision = { action: 'release' };
    } finally {
      this.counters.inFlight--;
    }
    try {
      return await this.settle(batch, decision);
    } catch (error) {
      this.deps.logger.error('could not settle a batch in the outbox', { error, action: decision.action });
      await this.outbox.release(batch).catch(() => undefined);
      return false;
    }
  }

  private async send(
    records: readonly OutboxRecord[],
    ready: readonly EndpointChannel[],
  ): Promise<EndpointResult[]> {
    const sentAt = new Date().toISOString();
    const signal = this.shutdownController.signal;
    const attempt = async (channel: EndpointChannel): Promise<EndpointResult> => {
      const result = await channel.attempt(records, sentAt, signal);
      this.book(channel, result);
      return { endpoint: channel.id, result };
    };
    if (this.options.mode === 'fanout') return Promise.all(ready.map(attempt));
    const results: EndpointResult[] = [];
    for (const channel of ready) {
      const r = await attempt(channel);
      results.push(r);
      if (r.result.kind === 'accepted' || signal.aborted) break;
    }
    return results;
  }

  /** Counts and reports one attempt, and books the endpoint's next try. */
  private book(channel: EndpointChannel, result: EndpointResult['result']): void {
    const retryInMs = channel.settle(result, Date.now());
    if (result.kind !== 'failed') return;
    this.counters.failedAttempts++;
    const permanent = result.failure === 'permanent';
    this.lastError = { endpoint: channel.id, reason: result.reason, atMs: Date.now() };
    this.deps.logger.debug('delivery attempt failed', {
      endpoint: channel.id,
      reason: result.reason,
      retryInMs,
    });
    this.deps.emit('delivery-error', {
      endpoint: channel.id,
      error: result.error ?? new Error(result.reason),
      permanent,
      ...(permanent ? {} : { retryInMs }),
    });
  }

  private async settle(batch: OutboxBatch, decision: BatchDecision): Promise<boolean> {
    switch (decision.action) {
      case 'ack': {
        const refused = decision.rejected;
        if (refused.length > 0) {
          const byReason = new Map<string, OutboxRecord[]>();
          for (const r of refused) {
            const record = batch.records[r.index];
            if (record === undefined) continue;
            byReason.set(r.reason, [...(byReason.get(r.reason) ?? []), record]);
          }
          for (const [reason, records] of byReason)
            await this.deadLetter(records, reason, decision.acceptedBy[0]!);
        }
        await this.outbox.ack(batch);
        const count = batch.records.length - refused.length;
        this.counters.sent += count;
        for (const endpoint of decision.acceptedBy) this.deps.emit('sent', { endpoint, count });
        if (this.splitLimit !== undefined) {
          this.splitLimit *= 2;
          if (this.splitLimit >= this.options.batchSize) this.splitLimit = undefined;
        }
        return true;
      }
      case 'split':
        await this.outbox.release(batch);
        this.splitLimit = Math.ceil(batch.records.length / 2);
        return true;
      case 'dead-letter':
        await this.deadLetter(batch.records, decision.reason, this.channels.map((c) => c.id).join(','));
        // The contract's order: dead-letter the records, then settle the (now empty) batch.
        await this.outbox.ack(batch);
        return true;
      case 'release':
        await this.outbox.release(batch);
        this.counters.retried++;
        return false;
    }
  }

  private async deadLetter(
    records: readonly OutboxRecord[],
    reason: string,
    endpoint: string,
  ): Promise<void> {
    await this.outbox.deadLetter(records, reason);
    this.counters.deadLettered += records.length;
    this.deps.logger.warn('events moved to the dead letters', { endpoint, count: records.length, reason });
    this.deps.emit('dead-letter', { endpoint, count: records.length, reason });
  }

  private async drainUntilDone(deadline: number, expired: () => boolean): Promise<void> {
    await this.restored;
    while (this.canSend() && !expired()) {
      const summary = await this.drainNow();
      if (!summary.blocked) {
        if (summary.claimed === 0 || (await this.pendingCount()) === 0) return;
        continue;
      }
      const now = Date.now();
      const at = this.earliestReady(now);
      if (at >= deadline) return;
      await waitUntil(at, this.shutdownController.signal);
    }
  }

  private earliestReady(now: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const channel of this.channels) at = Math.min(at, channel.readyAt(now));
    return at;
  }

  private schedule(at: number): void {
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
        if (!this.canSend()) this.schedule(Date.now() + this.options.intervalMs);
      },
      Math.max(0, at - Date.now()),
    );
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async pendingCount(): Promise<number> {
    try {
      return (await this.outbox.size()).events;
    } catch {
      return -1;
    }
  }

  /** Node: a last flush within a short budget. Browsers: what fits in the unload budget, keepalive. */
  private onHostExit(): Promise<void> | void {
    if (this.exitHandled || !this.canSend()) return;
    this.exitHandled = true;
    if (this.deps.platform.sendOnUnload === null) {
      return this.flush(this.options.exitFlushTimeoutMs).then(
        () => undefined,
        (error: unknown) => this.deps.logger.warn('flush at exit failed', { error }),
      );
    }
    return sendPendingOnUnload({
      outbox: this.outbox,
      channels:
        this.options.mode === 'fanout' ? this.channels : this.channels.filter((c) => c.isReady(Date.now())),
      platform: this.deps.platform,
      logger: this.deps.logger,
      budgetBytes: this.options.unloadBudgetBytes,
      batchSize: this.options.batchSize,
      claim: (maxEvents, maxBytes) => this.claim(maxEvents, maxBytes),
      onAcked: (count, endpoint) => {
        this.counters.sent += count;
        this.deps.emit('sent', { endpoint, count });
      },
      onDeadLettered: (records, reason, endpoint) => this.deadLetter(records, reason, endpoint),
    });
  }
}

function checkTimeout(timeoutMs: unknown): asserts timeoutMs is number {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || timeoutMs > 2_147_483_647) {
    throw new DeliveryOptionError(
      'timeoutMs',
      `must be a number of ms from 0 to 2147483647, got ${String(timeoutMs)}`,
    );
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
