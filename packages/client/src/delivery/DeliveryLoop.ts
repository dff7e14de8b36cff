import type { BackoffSequence } from '@homing/resilience';
import { exponentialBackoff, watchAbort } from '@homing/resilience';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch } from '../outbox/outbox.js';
import { SIZE_GRACE_MS, sizeWithin } from '../outbox/sizeWithin.js';
import type { BatchSender } from './BatchSender.js';
import type { DeliveryOptions } from './deliveryOptions.js';
import type { EndpointChannel } from './EndpointChannel.js';

export interface DrainSummary {
  claimed: number;
  /** Stopped because no endpoint could take more right now (backoff, open circuit, release). */
  blocked: boolean;
  /** Stopped because the outbox could not hand out a batch (a claim failed, or is backing off). */
  claimFailed: boolean;
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
  /** Events settled so far (sent, or dead-lettered): what a flush counts off. */
  readonly settled: () => number;
  /** Resolves once the saved breaker states are restored: nothing is claimed before. */
  readonly restored: () => Promise<void>;
  /** A claim failed (booked as the last error). */
  readonly onClaimError: (error: unknown) => void;
  /** The loop's own (unref'd) timer fired: something else kept the process alive until then. */
  readonly onWake?: () => void;
}

/**
 * When batches go out: one drain at a time per delivery (`concurrency` workers that claim and
 * deliver what was queued when the drain began, or until no endpoint is ready; one alone until a
 * first batch has gone through), started when a batch is full (by count or by bytes), every
 * `intervalMs`, or when a failed endpoint's wait is over (one unref'd timer, set to the earliest
 * of those). Claims are serialised, so two workers never race for one endpoint chain.
 *
 * A claim that fails (an unwritable outbox directory, a storage error) is not retried at once:
 * the loop waits `retry.initialMs`, doubling (by `retry.factor`) up to `retry.maxMs` while claims
 * keep failing, and starts over after one succeeds.
 */
export class DeliveryLoop {
  private closed = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private wakeAt = Number.POSITIVE_INFINITY;
  private draining: Promise<DrainSummary> | undefined;
  /** Whether the running drain sends everything queued when it began, the partial rest included. */
  private drainingWhole = false;
  private drainAgain = false;
  /** The drain after the running one sends the whole queue (see `kick`). */
  private drainAgainWhole = false;
  private claimLock: Promise<unknown> = Promise.resolve();
  private appendedSinceKick = 0;
  /** What this process appended and no drain has claimed yet (claims count it first). */
  private readonly unclaimed = { events: 0, bytes: 0 };
  private appendedBytesSinceKick = 0;
  /** While claims fail: no claim before this time, and the growing wait after the next failure. */
  private claimRetryAt = 0;
  private claimBackoff: BackoffSequence | undefined;
  /**
   * Whether a batch has gone through (sent, or refused for good and set aside) since this
   * delivery started: until then a drain sends one batch at a time, so a wrong key, a wrong host
   * or a dead server gets one request, not `concurrency` of them at once. Not forgotten after a
   * failure: the endpoint's own wait (backoff, Retry-After, breaker) spaces the retries, and a
   * batch that keeps failing would otherwise hold every other one behind it.
   */
  private wentThrough = false;

  constructor(private readonly deps: DeliveryLoopDeps) {}

  /**
   * `count` events of `bytes` were appended: a batch full by count or by bytes goes out at once,
   * and any with `intervalMs: 0`. `bytes` may be less than the UTF-8 size (the pipeline passes
   * the JSON's length, which costs nothing to read and is never more): the batch is then full
   * a little later, never sooner.
   */
  noteAppended(count: number, bytes: number): void {
    this.appendedSinceKick += count > 0 ? count : 1;
    this.unclaimed.events += count > 0 ? count : 1;
    if (bytes > 0) {
      this.appendedBytesSinceKick += bytes;
      this.unclaimed.bytes += bytes;
    }
    const { batchSize, batchBytes, intervalMs } = this.deps.options;
    if (intervalMs === 0) this.kick();
    else if (this.appendedSinceKick >= batchSize || this.appendedBytesSinceKick >= batchBytes)
      this.kick(false);
  }

  /**
   * Starts a drain now, or one more right after the running one. `whole`: it sends every event
   * queued when it begins, the last batch partial (the interval is up, an endpoint is back); else
   * (a batch filled up) only full batches of them, the rest waiting for the next.
   */
  kick(whole = true): void {
    this.appendedSinceKick = 0;
    this.appendedBytesSinceKick = 0;
    if (!this.deps.canSend()) return;
    if (this.draining !== undefined) {
      this.drainAgain = true;
      this.drainAgainWhole ||= whole;
    } else void this.startDrain(whole);
  }

  /** Stops the timer; no drain starts or is scheduled after this. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when no drain is running (one that the end of another started is waited for too). */
  async idle(): Promise<void> {
    while (this.draining !== undefined) await this.draining.catch(() => undefined);
  }

  /**
   * Sends what the outbox holds now (and what rides along in its batches), waiting for backoff
   * and Retry-After delays that end before the budget left (`budgetLeftMs`) runs out; stops early
   * when nothing more can go out in time, and at once when the outbox cannot hand out a batch. A flush tries one claim even while
   * the loop waits after failed ones: whoever asked for it wants to know now.
   */
  async drainUntilDone(budgetLeftMs: () => number, expired: () => boolean): Promise<void> {
    const settledBefore = this.deps.settled();
    await this.deps.restored();
    // Unknown (a storage that does not answer): until the outbox is empty.
    const queued = (await sizeWithin(this.deps.outbox, SIZE_GRACE_MS))?.events ?? Number.POSITIVE_INFINITY;
    this.claimRetryAt = 0;
    while (this.deps.canSend() && !expired()) {
      const summary = await this.drainNow(expired);
      if (summary.claimFailed) return;
      if (!summary.blocked) {
        // Done once as many events were settled as were queued when it was asked for: those
        // tracked since wait for their batch. Looking on until the outbox was empty, an app that
        // tracks in its `sent` listener kept a flush (and the exit flush) sending an event a
        // request until its budget ran out.
        if (summary.claimed === 0 || this.deps.settled() - settledBefore >= queued) return;
        const left = await sizeWithin(this.deps.outbox, SIZE_GRACE_MS);
        if (left !== null && left.events === 0) return;
        continue;
      }
      const now = Date.now();
      const at = this.earliestReady(now);
      // The waits end at wall-clock times, the budget is a duration: compared as lengths from now.
      if (at - now >= budgetLeftMs()) return;
      await waitUntil(at, this.deps.signal);
    }
  }

  /** One claim at a time: never two claims racing for one endpoint chain. */
  claim(
    maxEvents = this.deps.sender.claimLimit(),
    maxBytes = this.deps.sender.claimBytes(),
  ): Promise<OutboxBatch | null> {
    const next = this.claimLock.then(() => this.deps.outbox.claim(maxEvents, maxBytes));
    this.claimLock = next.catch(() => undefined);
    return next;
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
        this.deps.onWake?.();
        this.kick();
        // Paused or offline: look again at the next interval.
        if (!this.deps.canSend()) this.schedule(Date.now() + this.idleRecheckMs());
      },
      Math.max(0, at - Date.now()),
    );
    (this.timer as { unref?: () => void }).unref?.();
  }

  /**
   * Resolves with a drain that began after this call: the running one is waited for first. None
   * starts once `expired` (a flush that gave up must not send more behind its caller's back).
   */
  private drainNow(expired: () => boolean): Promise<DrainSummary> {
    const current = this.draining;
    if (current === undefined) return this.startDrain(true);
    // The running drain may have claimed before the latest appends: run one more after it, or
    // join the one its end already started if that one is whole. One for full batches only
    // (started by appends) leaves the partial rest: joined, it claimed nothing, and the flush
    // took that for done with events still queued (250 tracked, 200 sent).
    return current.then((ended) => {
      if (this.draining !== undefined) return this.drainingWhole ? this.draining : this.drainNow(expired);
      return expired() ? ended : this.startDrain(true);
    });
  }

  private startDrain(whole: boolean): Promise<DrainSummary> {
    this.drainingWhole = whole;
    this.drainAgain = false;
    this.drainAgainWhole = false;
    const run = this.drain(whole)
      .catch((error: unknown): DrainSummary => {
        this.deps.logger.error('delivery loop failed', { error });
        return { claimed: 0, blocked: true, claimFailed: false };
      })
      .finally(() => {
        this.draining = undefined;
        if (this.drainAgain && this.deps.canSend()) void this.startDrain(this.drainAgainWhole);
      });
    this.draining = run;
    return run;
  }

  private async drain(whole: boolean): Promise<DrainSummary> {
    await this.deps.restored();
    const summary: DrainSummary = { claimed: 0, blocked: false, claimFailed: false };
    const plan: DrainPlan = { whole, startedMs: Date.now(), claims: 0, reachedNewer: false };
    const workers: Promise<void>[] = [];
    let full = false;
    const rampUp = (): void => {
      if (full || this.deps.sender.searchingForPoison()) return;
      full = true;
      for (let i = 1; i < this.deps.options.concurrency; i++)
        workers.push(this.worker(summary, plan, rampUp, i));
    };
    workers.push(this.worker(summary, plan, rampUp, 0));
    if (this.wentThrough) rampUp();
    // The first worker adds the others while it runs: wait for those too.
    for (let i = 0; i < workers.length; i++) await workers[i];
    const now = Date.now();
    let next = now + this.idleRecheckMs();
    if (summary.blocked) next = Math.min(next, this.earliestReady(now));
    this.schedule(next);
    return summary;
  }

  /**
   * Whether a drain claims again. A whole one (the interval is up, an endpoint is back, a flush)
   * sends the events queued when it began, the last batch partial; one that a batch filling up
   * started sends full batches only, the rest waiting for the next. Events appended while a drain
   * runs wait for the next one: drained until empty, a steady trickle went out in batches of one
   * or two, a request per round trip, and an app that tracks in its own `sent` listener kept the
   * loop sending without end.
   */
  private claimsAgain(plan: DrainPlan): boolean {
    if (plan.whole) return plan.claims === 0 || !plan.reachedNewer;
    // Asked before each claim, the first too: a drain started behind another may find that one
    // took the batch that filled up, and would send the partial rest.
    const { sender } = this.deps;
    return this.unclaimed.events >= sender.claimLimit() || this.unclaimed.bytes >= sender.claimBytes();
  }

  /** Books a claim against `unclaimed`, and whether it reached events newer than the drain. */
  private claimed(plan: DrainPlan, batch: OutboxBatch): void {
    plan.claims++;
    this.unclaimed.events = Math.max(0, this.unclaimed.events - batch.records.length);
    this.unclaimed.bytes = Math.max(0, this.unclaimed.bytes - batch.bytes);
    // The queue is in order: a record tracked since the drain began means the older ones are out.
    const now = Date.now();
    for (const r of batch.records)
      if (trackedSince(r.timestampMs, plan.startedMs, now)) plan.reachedNewer = true;
  }

  private async worker(
    summary: DrainSummary,
    plan: DrainPlan,
    rampUp: () => void,
    index: number,
  ): Promise<void> {
    while (this.deps.canSend() && this.claimsAgain(plan)) {
      // A search for a failing event halves and doubles claims in queue order: one batch at a time.
      if (index > 0 && this.deps.sender.searchingForPoison()) return;
      const now = Date.now();
      const ready = this.deps.channels.filter((c) => c.isReady(now));
      if (ready.length === 0) {
        summary.blocked = true;
        return;
      }
      const batch = await this.claimUnlessWaiting(plan);
      if (batch === 'failed') {
        summary.blocked = true;
        summary.claimFailed = true;
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
      const progressed = (await this.deps.sender.needsProbe(batch))
        ? await this.deliverAfterProbe(batch, stillReady, summary, plan)
        : await this.deps.sender.deliver(batch, stillReady);
      if (!progressed) {
        summary.blocked = true;
        return;
      }
      this.wentThrough = true;
      rampUp();
    }
  }

  /**
   * A claim of a search for a failing event after a failure (a capped batch, or the suspect
   * alone): first a probe, the next event in the queue. Accepted, the endpoint takes events, and
   * the claim goes right after it; failed, the claim goes back unsent (before the suspect, the
   * endpoint is down and the search is over; while halving, the claim goes next time without a
   * probe). With nothing else queued, the claim goes alone (a suspect's failure then proves
   * nothing).
   */
  private async deliverAfterProbe(
    claimed: OutboxBatch,
    ready: readonly EndpointChannel[],
    summary: DrainSummary,
    plan: DrainPlan,
  ): Promise<boolean> {
    const { sender, outbox, logger } = this.deps;
    let probe: OutboxBatch | null;
    try {
      probe = await this.claim(1, sender.claimBytes());
    } catch (error) {
      logger.debug('could not claim a probe for the search for a failing event; the claim goes without one', {
        error,
      });
      probe = null;
    }
    if (probe === null) return sender.deliver(claimed, ready);
    summary.claimed += probe.records.length;
    this.claimed(plan, probe);
    const probed = await sender.deliver(probe, ready, true);
    const stillReady = ready.filter((c) => c.isReady(Date.now()));
    if (!probed || stillReady.length === 0 || (await sender.needsProbe(claimed))) {
      await outbox.release(claimed).catch((error: unknown) => {
        logger.error('could not release a batch to the outbox', { error });
      });
      return probed && stillReady.length > 0;
    }
    return sender.deliver(claimed, stillReady);
  }

  /**
   * A claim in its turn, unless claims are waiting after a failure; 'failed' then, and when this
   * one fails (which starts or lengthens the wait). Checked in the turn: workers queued behind a
   * failing claim do not try too.
   */
  private claimUnlessWaiting(plan: DrainPlan): Promise<OutboxBatch | null | 'failed'> {
    const next = this.claimLock.then(async (): Promise<OutboxBatch | null | 'failed'> => {
      if (Date.now() < this.claimRetryAt) return 'failed';
      // Asked again in the turn: another worker's claim just before may have taken what was owed.
      if (!this.claimsAgain(plan)) return null;
      try {
        const batch = await this.deps.outbox.claim(
          this.deps.sender.claimLimit(),
          this.deps.sender.claimBytes(),
        );
        this.claimBackoff = undefined;
        this.claimRetryAt = 0;
        if (batch !== null) this.claimed(plan, batch);
        // Nothing to claim: what this process appended is gone (claimed, cleared, dropped).
        else this.unclaimed.events = this.unclaimed.bytes = 0;
        return batch;
      } catch (error) {
        this.claimBackoff ??= exponentialBackoff({ ...this.deps.options.retry, jitter: 'none' }).start();
        const retryInMs = this.claimBackoff.next();
        this.claimRetryAt = Date.now() + retryInMs;
        this.deps.logger.error('could not claim a batch from the outbox', { error, retryInMs });
        this.deps.onClaimError(error);
        return 'failed';
      }
    });
    this.claimLock = next;
    return next;
  }

  /**
   * When a drain ended, or the loop is paused, when to look again: `intervalMs`. With
   * `intervalMs: 0` every append starts a drain (`noteAppended`), so this only catches what other
   * processes sharing the outbox appended; looking again at once after every drain, empty or
   * not, kept an idle client busy (a third of a core measured with a file outbox).
   */
  private idleRecheckMs(): number {
    return this.deps.options.intervalMs > 0 ? this.deps.options.intervalMs : ZERO_INTERVAL_RECHECK_MS;
  }

  /** When the loop can next do something: an endpoint is ready and claims are not waiting. */
  private earliestReady(now: number): number {
    let at = Number.POSITIVE_INFINITY;
    for (const channel of this.deps.channels) at = Math.min(at, channel.readyAt(now));
    return Math.max(at, this.claimRetryAt);
  }
}

/**
 * Whether an event stamped `timestampMs` was tracked after `sinceMs`. The same millisecond does
 * not count: events tracked just before a flush often share its millisecond, and taken for new
 * they stopped its drain after one batch, its workers idle. Stamps past `nowMs` are from before
 * the clock was set back: such events are older than anything, and taken for new they would
 * have stopped every drain after one batch.
 */
function trackedSince(timestampMs: number, sinceMs: number, nowMs: number): boolean {
  return timestampMs > sinceMs && timestampMs <= nowMs;
}

/** How far a drain goes (see `DeliveryLoop.claimsAgain`). */
interface DrainPlan {
  /** Every event queued when it began, the last batch partial; else full batches only. */
  readonly whole: boolean;
  readonly startedMs: number;
  claims: number;
  /** A claim held an event tracked since it began. */
  reachedNewer: boolean;
}

/** With `intervalMs: 0`, how often an idle loop looks for events other processes appended. */
export const ZERO_INTERVAL_RECHECK_MS = 1_000;

/** Waits until `at` (or until shutdown). Not unref'd: whoever awaits a flush wants it to go on. */
function waitUntil(at: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      unwatch();
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, at - Date.now()));
    // One listener on the shutdown signal however many flushes wait.
    const unwatch = watchAbort(signal, done);
  });
}
