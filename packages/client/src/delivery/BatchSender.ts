import type { EmitClientEvent } from '../events.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxBatch, OutboxRecord } from '../outbox/outbox.js';
import { BatchSizeLimit } from './BatchSizeLimit.js';
import type { BatchDecision, EndpointResult } from './decideBatch.js';
import { decideBatch, refusalReason } from './decideBatch.js';
import type { DeliveryCounters } from './DeliveryCounters.js';
import type { DeliveryOptions } from './deliveryOptions.js';
import type { EndpointChannel } from './EndpointChannel.js';
import {
  countsAgainstBatch,
  POISON_LONE_FAILURES,
  POISON_SEARCH_IDLE,
  POISON_SEARCH_STATE_KEY,
  PoisonIsolation,
  type PoisonSearchState,
} from './PoisonIsolation.js';
import { RefusalMemory } from './RefusalMemory.js';

/** An endpoint's refusal for good of a whole batch. */
export interface BatchRefusal {
  readonly endpoint: string;
  /** The HTTP status, when the refusal was an HTTP answer. */
  readonly status: number | undefined;
  readonly reason: string;
}

export interface BatchSenderDeps {
  readonly outbox: Outbox;
  readonly options: DeliveryOptions;
  /** Every endpoint, in order of preference. */
  readonly channels: readonly EndpointChannel[];
  readonly counters: DeliveryCounters;
  readonly logger: Logger;
  readonly emit: EmitClientEvent;
  /**
   * Aborted at shutdown, and when the exit budget runs out: requests in flight end and their
   * batches are released. Read per batch (the exit cut replaces it once its batches are back).
   */
  readonly requestSignal: () => AbortSignal;
  /** See `DeliveryDeps.keepRefused`. */
  readonly keepRefused?: (refusal: BatchRefusal) => boolean;
}

/**
 * One claimed batch, from request to outcome: send it to the ready endpoints (in order under
 * `failover`, all at once under `fanout`), decide, and settle it in the outbox (ack, dead-letter
 * what was refused for good, split after a 413, or release to try again later). Every attempt
 * is counted and reported, and books the endpoint's next try.
 */
export class BatchSender {
  /** After a 413: how large a batch may be claimed (see `BatchSizeLimit`). */
  private readonly sizeLimit = new BatchSizeLimit();
  /** Refusals for good of batches that wait for another endpoint. */
  private readonly refusals = new RefusalMemory();
  /** The search for an event the endpoints fail on every time (see `PoisonIsolation`). */
  private readonly poison: PoisonIsolation;
  /**
   * The search's state as last saved, and the saves in order. `PoisonIsolation` replaces its
   * state object on every change, so comparing objects tells a change without serialising one
   * per batch.
   */
  private savedPoison: PoisonSearchState = POISON_SEARCH_IDLE;
  private savingPoison: Promise<void> = Promise.resolve();

  constructor(private readonly deps: BatchSenderDeps) {
    this.poison = new PoisonIsolation(deps.options.batchSize);
  }

  /** How many events the next claim may take. */
  claimLimit(): number {
    return Math.min(
      this.deps.options.batchSize,
      this.sizeLimit.current(Date.now()).events,
      this.poison.cap(),
    );
  }

  /** A search for an event the endpoints keep failing on is on: one batch in flight at a time. */
  searchingForPoison(): boolean {
    return this.poison.searching();
  }

  /**
   * True when this batch, claimed in queue order during that search, must follow a probe: the
   * next event, sent first to show whether the endpoint takes anything at all.
   */
  async needsProbe(batch: OutboxBatch): Promise<boolean> {
    const needs = this.poison.needsProbe(batch.records);
    this.savePoison();
    if (!needs || !this.poison.halving()) return needs;
    // Halving: only with events to spare behind the claim, for the suspect's own probes later.
    try {
      const queued = (await this.deps.outbox.size()).events;
      return queued - batch.records.length >= POISON_LONE_FAILURES;
    } catch {
      return false;
    }
  }

  /** Restores the search a previous run saved. */
  async restorePoisonSearch(): Promise<void> {
    try {
      this.poison.restore(await this.deps.outbox.getState(POISON_SEARCH_STATE_KEY));
      this.savedPoison = this.poison.snapshot();
    } catch (error) {
      this.deps.logger.warn('could not read the saved search for a failing event', { error });
    }
  }

  /** Resolves once the search's state, as it is now, is saved. */
  settled(): Promise<void> {
    return this.savingPoison;
  }

  /** How many bytes of events the next claim may take. */
  claimBytes(): number {
    return Math.min(this.deps.options.batchBytes, this.sizeLimit.current(Date.now()).bytes);
  }

  /**
   * Sends one claimed batch and settles it; false when it was given back to wait. `probe`: the
   * batch is the probe sent before a claim of the search (`needsProbe`).
   */
  async deliver(batch: OutboxBatch, ready: readonly EndpointChannel[], probe = false): Promise<boolean> {
    const { counters, logger, outbox } = this.deps;
    counters.inFlight++;
    let decision: BatchDecision;
    try {
      const signal = this.deps.requestSignal();
      const results = await this.send(batch.records, ready);
      decision = decideBatch(
        results,
        this.deps.channels.map((c) => c.id),
        batch.records.length,
        this.refusals.refusedAll(batch.records),
      );
      this.remember(batch.records, results, decision);
      if (decision.action === 'dead-letter' && this.keeps(results)) decision = { action: 'release' };
      decision = this.searchPoison(batch.records, results, decision, signal, probe);
    } catch (error) {
      logger.error('unexpected failure while sending a batch', { error });
      decision = { action: 'release' };
    } finally {
      counters.inFlight--;
    }
    try {
      return await this.settle(batch, decision);
    } catch (error) {
      logger.error('could not settle a batch in the outbox', { error, action: decision.action });
      await outbox.release(batch).catch(() => undefined);
      return false;
    }
  }

  /**
   * Feeds the outcome to the search for a failing event; a batch to retry that the search found
   * to be that event alone goes to the dead letters instead.
   */
  private searchPoison(
    records: readonly OutboxRecord[],
    results: readonly EndpointResult[],
    decision: BatchDecision,
    signal: AbortSignal,
    probe: boolean,
  ): BatchDecision {
    let next = decision;
    if (decision.action === 'ack') {
      if (probe) this.poison.probeAccepted();
      else this.poison.accepted(records);
    } else if (decision.action === 'release' && !signal.aborted) {
      const failure = results.find((r) => r.result.kind === 'failed' && countsAgainstBatch(r.result));
      if (failure !== undefined && probe) this.poison.probeFailed();
      else if (failure !== undefined && this.poison.failed(records) === 'poison') {
        const reason = failure.result.kind === 'failed' ? failure.result.reason : 'failed';
        next = {
          action: 'dead-letter',
          reason: `${failure.endpoint}: ${reason} (this event alone, ${POISON_LONE_FAILURES} times, while the endpoint accepted other events)`,
        };
      }
    }
    this.savePoison();
    return next;
  }

  /** Saves the search's state when it changed (in order; a failure to save is only logged). */
  private savePoison(): void {
    const snapshot = this.poison.snapshot();
    if (snapshot === this.savedPoison) return;
    this.savedPoison = snapshot;
    // Nothing to remember: the key goes, rather than stay in every outbox's state.
    const value = snapshot === POISON_SEARCH_IDLE ? undefined : snapshot;
    this.savingPoison = this.savingPoison
      .then(() => this.deps.outbox.setState(POISON_SEARCH_STATE_KEY, value))
      .catch((error: unknown) => {
        this.deps.logger.warn('could not save the search for a failing event', { error });
      });
  }

  /** Whether `keepRefused` keeps a batch this attempt's answers refused for good. */
  private keeps(results: readonly EndpointResult[]): boolean {
    const keep = this.deps.keepRefused;
    if (keep === undefined) return false;
    for (const { endpoint, result } of results) {
      if (result.kind !== 'failed' || refusalReason(result) === undefined) continue;
      try {
        if (keep({ endpoint, status: result.status, reason: result.reason })) return true;
      } catch (error) {
        this.deps.logger.warn('keepRefused threw; the batch is dead-lettered', { error });
      }
    }
    return false;
  }

  /**
   * Moves records to the dead letters, counted and reported: as many as the outbox stored, not
   * those a consent denial cleared in flight (counted as 'consent' drops; reported as dead
   * letters too, an app adding up both events counted them twice).
   */
  async deadLetter(records: readonly OutboxRecord[], reason: string, endpoint: string): Promise<void> {
    const stored = await this.deps.outbox.deadLetter(records, reason);
    const count = typeof stored === 'number' ? stored : records.length;
    if (count === 0) return;
    this.deps.counters.deadLettered += count;
    this.deps.logger.warn('events moved to the dead letters', { endpoint, count, reason });
    this.deps.emit('dead-letter', { endpoint, count, reason });
  }

  private async send(
    records: readonly OutboxRecord[],
    ready: readonly EndpointChannel[],
  ): Promise<EndpointResult[]> {
    const signal = this.deps.requestSignal();
    const attempt = async (channel: EndpointChannel): Promise<EndpointResult> => {
      // Stamped per endpoint: in failover, the next endpoint is tried after the first one's
      // timeout, and a sent_at that old would date the events that much later.
      const number = channel.beginAttempt();
      const result = await channel.attempt(records, new Date().toISOString(), signal);
      this.book(channel, result, number);
      return { endpoint: channel.id, result };
    };
    if (this.deps.options.mode === 'fanout') return Promise.all(ready.map(attempt));
    const results: EndpointResult[] = [];
    for (const channel of ready) {
      const r = await attempt(channel);
      results.push(r);
      if (r.result.kind === 'accepted' || signal.aborted) break;
    }
    return results;
  }

  /** Counts and reports one attempt, and books the endpoint's next try. */
  private book(channel: EndpointChannel, result: EndpointResult['result'], attempt: number): void {
    const retryInMs = channel.settle(result, Date.now(), attempt);
    if (result.kind !== 'failed') return;
    const { counters, logger, emit } = this.deps;
    counters.failedAttempts++;
    const permanent = result.failure === 'permanent';
    counters.lastError = { endpoint: channel.id, reason: result.reason, atMs: Date.now() };
    logger.debug('delivery attempt failed', {
      endpoint: channel.id,
      reason: result.reason,
      retryInMs,
    });
    emit('delivery-error', {
      endpoint: channel.id,
      error: result.error ?? new Error(result.reason),
      permanent,
      ...(permanent ? {} : { retryInMs }),
    });
  }

  /**
   * Keeps the refusals of a batch given back to wait for another endpoint, and makes the endpoints
   * that refused it wait too: sent again at once, they would refuse it again, in a loop. Once the
   * batch is settled (sent elsewhere, dead-lettered), they need not wait any more.
   */
  private remember(
    records: readonly OutboxRecord[],
    results: readonly EndpointResult[],
    decision: BatchDecision,
  ): void {
    if (decision.action === 'split') return;
    if (decision.action !== 'release') {
      for (const endpoint of this.refusals.refusedAll(records).keys())
        this.deps.channels.find((c) => c.id === endpoint)?.endRefusalWait();
      this.refusals.forget(records);
      return;
    }
    const now = Date.now();
    for (const { endpoint, result } of results) {
      const reason = refusalReason(result);
      if (reason !== undefined) {
        this.refusals.note(records, endpoint, reason);
        this.deps.channels.find((c) => c.id === endpoint)?.waitAfterRefusal(now);
      } else if (result.kind === 'failed') {
        this.refusals.forgetEndpoint(records, endpoint);
      }
    }
  }

  private async settle(batch: OutboxBatch, decision: BatchDecision): Promise<boolean> {
    const { outbox, counters } = this.deps;
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
            await this.deadLetter(records, reason, decision.acceptedBy[0]!.endpoint);
        }
        await outbox.ack(batch);
        const count = batch.records.length - refused.length;
        counters.sent += count;
        // Each endpoint's own count: under fanout one may have refused (in its 2xx) what another
        // took, and one that stored nothing took nothing.
        for (const { endpoint, stored } of decision.acceptedBy)
          if (stored > 0) this.deps.emit('sent', { endpoint, count: stored });
        this.sizeLimit.accepted({ events: batch.records.length, bytes: batch.bytes });
        return true;
      }
      case 'split':
        // Before the release: a worker waiting to claim would take the whole batch again.
        this.sizeLimit.tooLarge({ events: batch.records.length, bytes: batch.bytes }, Date.now());
        await outbox.release(batch);
        return true;
      case 'dead-letter':
        await this.deadLetter(batch.records, decision.reason, this.deps.channels.map((c) => c.id).join(','));
        // The contract's order: dead-letter the records, then settle the (now empty) batch.
        await outbox.ack(batch);
        return true;
      case 'release':
        await outbox.release(batch);
        counters.retried++;
        return false;
    }
  }
}
