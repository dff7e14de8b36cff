import type { ReplacedWhole } from './destinations/redactedTraits.js';
import { describeValue } from '../describeValue.js';
import { monotonicClock } from '../integrations/monotonicClock.js';
import type { EmitClientEvent } from '../events.js';
import type { Logger } from '../logger.js';
import { MAX_DELAY_MS } from '../maxDelay.js';
import type { Outbox, OutboxRecord } from '../outbox/outbox.js';
import { sizeWithin } from '../outbox/sizeWithin.js';
import type { Platform } from '../platform/platform.js';
import { settledWithin } from '../settledWithin.js';
import { type BatchRefusal, BatchSender } from './BatchSender.js';
import { DeliveryCounters } from './DeliveryCounters.js';
import type { DeliveryStats } from './DeliveryCounters.js';
import { DeliveryLoop } from './DeliveryLoop.js';
import { type DeliveryOptions, withWaitFloors } from './deliveryOptions.js';
import type { SavedSending } from './EndpointChannel.js';
import { endpointIdentity } from './endpointIdentity.js';
import {
  breakerStateKey,
  EndpointChannel,
  ENDPOINTS_STATE_KEY,
  SENDING_STATE_KEY,
} from './EndpointChannel.js';
import { DeliveryBusyError, DeliveryOptionError } from './errors.js';
import { type KeepaliveBytes, pageKeepaliveBytes } from './keepaliveBytes.js';
import { serverWaitStateKey } from './savedServerWait.js';
import { sendPendingOnUnload } from './sendOnUnload.js';

export { resolveDeliveryOptions } from './deliveryOptions.js';
export type { DeliveryOptions, DeliveryOptionsInput } from './deliveryOptions.js';
export type { DeliveryStats } from './DeliveryCounters.js';

export interface DeliveryDeps {
  platform: Platform;
  logger: Logger;
  emit: EmitClientEvent;
  /**
   * What the client's redaction writes in place of a whole value: such identify traits are left
   * out of PostHog's `$set` and Segment's `traits` (default: the default replacement, labels and
   * hashes).
   */
  replacedWhole?: ReplacedWhole;
  /**
   * Save these endpoints in the outbox as where it sends (default true). A one-off sender such as
   * `homing flush --host` passes false: where the app sends is the app's to say.
   */
  saveSending?: boolean;
  /**
   * Asked before a batch every endpoint refused for good goes to the dead letters; true keeps it
   * queued instead (released, as after a failed attempt). For a one-off sender whose refusals
   * may be its own mistake, not the events': `homing flush` with a mistyped `--key` or `--host`
   * got 401 or 404 for every batch and dead-lettered the whole queue. Default: dead-letter.
   */
  keepRefused?: (refusal: BatchRefusal) => boolean;
  /** The keepalive bytes in flight unload sends are sized against; default the page's. */
  keepaliveBytes?: KeepaliveBytes;
}

export interface FlushResult {
  /** Events acknowledged during this flush. */
  sent: number;
  /** Events still in the outbox afterwards (-1 when the outbox could not say). */
  pending: number;
  timedOut: boolean;
}

/**
 * Where flush and shutdown budgets are measured: durations, which a wall clock stepped back
 * would lengthen by the size of the step (a 2 s flush ran for an hour).
 */
const monotonicNow = monotonicClock();

/** How long a shutdown waits for the loop's last step when its timeout is already spent. */
const STOP_SETTLE_MS = 250;

/** Outboxes that have a running delivery loop in this process. */
const active = new WeakSet<Outbox>();

/** How long a process must outlive an exit flush for the next beforeExit to flush again. */
const EXIT_REARM_MS = 20;
/** Exit flushes re-armed that way until the delivery loop's own timer fires. */
const MAX_EXIT_REARMS = 3;

/**
 * Takes batches out of the outbox and gets them to the endpoints: claim (in flight) → send →
 * ack / release / dead-letter. One loop per outbox; the loop runs when a batch is full
 * (`notify`), every `intervalMs`, or when a failed endpoint's wait is over. A failing endpoint
 * waits by timestamp, with its records released: nothing sleeps while holding a claim, and
 * events keep flowing into the outbox whatever the endpoints do.
 *
 * This class is the lifecycle (start, pause, online, flush, shutdown, host exit); the loop's
 * timing is `DeliveryLoop`, one batch's send and outcome is `BatchSender`, the figures are
 * `DeliveryCounters`.
 */
export class Delivery {
  private readonly channels: EndpointChannel[];
  private readonly shutdownController = new AbortController();
  /** Aborts the requests in flight (at shutdown, and when the exit budget runs out). */
  private requests = new AbortController();
  private readonly counters = new DeliveryCounters();
  private readonly sender: BatchSender;
  private readonly loop: DeliveryLoop;
  private restored: Promise<void> = Promise.resolve();
  /** The endpoint list kept in the outbox state, brought up to date after the restore. */
  private recorded: Promise<void> = Promise.resolve();
  private started = false;
  private closed = false;
  private shuttingDown: Promise<void> | undefined;
  private paused = false;
  private online: boolean;
  private exitHandled = false;
  /** The exit flush runs: its own waits (a retry's) wake the loop, which proves nothing. */
  private exitFlushing = false;
  /**
   * After a last flush (shutdown, exit): no new request starts, and those in flight get what is
   * left of the budget to be answered before they are cut. Cut at once, a request a background
   * drain had just sent to a healthy endpoint was stored there and its batch released, so the
   * next holder of the outbox sent the same events again.
   */
  private finishingInFlight = false;
  /** Exit flushes re-armed by `EXIT_REARM_MS` since the loop's own timer last fired. */
  private exitRearms = 0;
  private rearmTimer: ReturnType<typeof setTimeout> | undefined;
  /** Records of regular sends in flight an unload request already carried (`sendOnUnload.ts`). */
  private readonly carriedOnUnload = new WeakSet<OutboxRecord>();
  private readonly unsubscribe: Array<() => void> = [];
  /** The resolved options, with the retry and breaker waits at their floor (see `withWaitFloors`). */
  private readonly options: DeliveryOptions;

  constructor(
    private readonly outbox: Outbox,
    resolved: DeliveryOptions,
    private readonly deps: DeliveryDeps,
  ) {
    if (outbox === null || typeof outbox !== 'object' || typeof outbox.claim !== 'function') {
      throw new DeliveryOptionError('outbox', 'must be an Outbox');
    }
    if (resolved === null || typeof resolved !== 'object' || !Array.isArray(resolved.endpoints)) {
      throw new DeliveryOptionError('options', 'must come from resolveDeliveryOptions(...)');
    }
    const options = withWaitFloors(resolved);
    this.options = options;
    this.online = deps.platform.isOnline();
    this.channels = options.endpoints.map(
      (endpoint) => new EndpointChannel(endpoint, options, { outbox, ...deps }),
    );
    const signal = this.shutdownController.signal;
    this.sender = new BatchSender({
      outbox,
      options,
      channels: this.channels,
      counters: this.counters,
      logger: deps.logger,
      emit: deps.emit,
      requestSignal: () => this.requests.signal,
      ...(deps.keepRefused === undefined ? {} : { keepRefused: deps.keepRefused }),
    });
    this.loop = new DeliveryLoop({
      outbox,
      options,
      channels: this.channels,
      sender: this.sender,
      logger: deps.logger,
      signal,
      canSend: () => this.canSend(),
      settled: () => this.counters.sent + this.counters.deadLettered,
      // The process outlived a timer that does not keep it alive: it was not ending after all,
      // so the next beforeExit flushes again. Not re-armed by events tracked since: an app that
      // tracks in its own beforeExit listener made each exit flush's I/O emit beforeExit again,
      // and the process never ended (events tracked then are written at exit for the next run).
      onWake: () => {
        if (this.exitFlushing) return;
        this.exitHandled = false;
        this.exitRearms = 0;
      },
      restored: () => this.restored,
      onClaimError: (error) => {
        this.counters.lastError = {
          endpoint: 'outbox',
          reason: `could not claim a batch: ${describe(error)}`,
          atMs: Date.now(),
        };
      },
    });
  }

  /** Restores the saved breaker states and starts the unref'd loop. Throws if this outbox already has a loop. */
  start(): void {
    if (this.started || this.closed) return;
    if (active.has(this.outbox)) throw new DeliveryBusyError();
    active.add(this.outbox);
    this.started = true;
    this.restored = this.restore();
    this.recorded = this.restored.then(() => this.recordEndpoints());
    const { platform } = this.deps;
    this.unsubscribe.push(
      platform.onOnlineChange((online) => {
        this.online = online;
        if (online) this.loop.kick();
      }),
    );
    if (this.options.flushOnExit) this.unsubscribe.push(platform.onExit(() => this.onHostExit()));
    this.loop.schedule(Date.now() + this.options.intervalMs);
  }

  /**
   * Called after each append (`count` events of about `bytes`: the JSON's length will do, see
   * `DeliveryLoop.noteAppended`): a batch full by count or by bytes goes out at once.
   */
  notify(count = 1, bytes = 0): void {
    if (this.deps.platform.sendOnUnload !== null) {
      // Browsers: the page may be shown again after it was hidden; the next hide sends what is new.
      this.exitHandled = false;
    } else if (this.exitHandled) {
      // Node, after the exit flush: a full batch is not sent at once, as its request's I/O would
      // make Node emit beforeExit again, and an app tracking in its own beforeExit listener (with
      // batchSize 1 or intervalMs 0) went round for seconds. It goes with the next flush, or it is
      // written at exit for the next run.
      return;
    }
    this.loop.noteAppended(count, bytes);
  }

  /**
   * Holds every event in the outbox while true (consent 'pending'); sending resumes when set
   * back to false. Requests already in flight finish.
   */
  setPaused(paused: boolean): void {
    this.paused = paused === true;
    if (!this.paused) this.loop.kick();
  }

  /**
   * Sends everything pending now, waiting for backoff and Retry-After delays that end before
   * the deadline. Stops early when nothing more can go out in time (an open circuit, paused,
   * offline), and at once when the outbox cannot hand out a batch (the error is in
   * `stats().lastError`). In-flight requests are not cut at the deadline; they finish in the
   * background (the exit flush cuts them: see `onHostExit`).
   */
  async flush(timeoutMs: number): Promise<FlushResult> {
    return this.flushWithin(timeoutMs, () => true);
  }

  /**
   * `waitForRetries` answering false: stops once every endpoint waits out a backoff or
   * Retry-After (or its open circuit), instead of waiting within the budget for the next attempt.
   * Asked each time, after a drain: a storage that loads in the background has loaded by then.
   */
  private async flushWithin(timeoutMs: number, waitForRetries: () => boolean): Promise<FlushResult> {
    checkTimeout(timeoutMs);
    const sentBefore = this.counters.sent;
    const deadLetteredBefore = this.counters.deadLettered;
    const deadline = monotonicNow() + timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutMs);
    });
    try {
      await Promise.race([
        this.loop.drainUntilDone(
          () => (waitForRetries() ? deadline - monotonicNow() : 0),
          () => timedOut,
        ),
        expired,
      ]);
    } finally {
      clearTimeout(timer);
    }
    const sent = this.counters.sent - sentBefore;
    // What a flush settled is stored as settled before it resolves: acks otherwise reach the disk
    // on a timer that a process exiting right after (a CLI) never lets fire, and the next run
    // sent the same events again (or, refused again, dead-lettered them a second time).
    if (sent > 0 || this.counters.deadLettered > deadLetteredBefore) {
      await this.outbox
        .persist()
        .catch((error: unknown) => this.deps.logger.debug('storing acks after a flush failed', { error }));
    }
    // Within the budget too: a storage that does not answer (an IndexedDB open that never
    // settles) says nothing (-1) rather than hold the flush.
    const left = await sizeWithin(this.outbox, deadline - monotonicNow());
    return { sent, pending: left?.events ?? -1, timedOut };
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
    return this.counters.snapshot(this.channels, { paused: this.paused, online: this.online });
  }

  private async stop(timeoutMs: number): Promise<void> {
    const deadline = monotonicNow() + timeoutMs;
    // A flush with no time would still start a request, only to cut it at once below; the
    // server may have taken it all the same, and the records, released, go out again.
    if (this.started && !this.paused && timeoutMs > 0) {
      try {
        await this.flush(timeoutMs);
      } catch (error) {
        this.deps.logger.warn('flush at shutdown failed', { error });
      }
    }
    this.closed = true;
    if (this.rearmTimer !== undefined) clearTimeout(this.rearmTimer);
    this.loop.close();
    for (const off of this.unsubscribe.splice(0)) off();
    await this.finishInFlight(deadline);
    this.shutdownController.abort();
    this.requests.abort();
    // Aborted requests settle at once: their batches are released before we return. A step
    // that is not a request (a dead letter waiting for another process's lock) may not: it
    // gets what is left of the timeout, then goes on alone; its batch stays claimed in the
    // outbox, which gives it back on close.
    await settledWithin(this.loop.idle(), Math.max(deadline - monotonicNow(), STOP_SETTLE_MS));
    await this.restored;
    await this.recorded;
    await this.stateSaved();
    for (const channel of this.channels) channel.dispose();
    if (this.started) active.delete(this.outbox);
  }

  /** Resolves once the breaker states, server waits and search for a failing event are saved. */
  private async stateSaved(): Promise<void> {
    await Promise.all([...this.channels.map((c) => c.settled()), this.sender.settled()]);
  }

  /** The saved breaker states and search for a failing event; nothing is claimed before they are back. */
  private async restore(): Promise<void> {
    await Promise.all([...this.channels.map((c) => c.restore()), this.sender.restorePoisonSearch()]);
  }

  /**
   * Adds this client's endpoints to the list kept in the outbox state. Claims do not wait for
   * it: in a process busy with its own work each of its file operations waits for a turn of the
   * event loop, and the first batch went out that much later.
   */
  private async recordEndpoints(): Promise<void> {
    try {
      const known = await this.outbox.getState<unknown>(ENDPOINTS_STATE_KEY);
      const ids = new Set(
        Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : [],
      );
      const before = ids.size;
      const own = new Set(this.channels.map((c) => c.id));
      for (const id of own) ids.add(id);
      if (ids.size !== before) {
        // Bounded: endpoints come and go over the life of an install. The oldest others go
        // first (never one this client sends to), and their saved breakers with them: nothing
        // would ever read or remove those again. A process still sending to one saves its
        // breaker anew at its next change, and lists it again at its next start.
        const dropped = [...ids].filter((id) => !own.has(id)).slice(0, Math.max(0, ids.size - 32));
        for (const id of dropped) ids.delete(id);
        await this.outbox.setState(ENDPOINTS_STATE_KEY, [...ids]);
        for (const id of dropped) {
          for (const key of [breakerStateKey(id), serverWaitStateKey(id)]) {
            await this.outbox.setState(key, undefined).catch((error: unknown) => {
              this.deps.logger.warn('could not remove the saved state of an endpoint no longer listed', {
                endpoint: id,
                error,
              });
            });
          }
        }
      }
      if (this.deps.saveSending === false) return;
      const sending: SavedSending = {
        mode: this.options.mode,
        endpoints: this.options.endpoints.flatMap((e) =>
          e.destination === 'custom'
            ? []
            : [{ name: e.id, destination: e.destination, host: e.host, key: e.key }],
        ),
        breaker: {
          threshold: this.options.breaker.threshold,
          halfOpenAfterMs: this.options.breaker.halfOpenAfterMs,
          initialHalfOpenAfterMs: this.options.breaker.initialHalfOpenAfterMs,
        },
      };
      // This app's endpoints replace what another config saved; with only custom ones, nothing is
      // left that a command line could send to.
      const saved = sending.endpoints.length === 0 ? undefined : sending;
      const sentBefore = await this.outbox.getState<unknown>(SENDING_STATE_KEY);
      this.warnOfOtherEndpoints(sentBefore, saved);
      if (JSON.stringify(sentBefore) !== JSON.stringify(saved))
        await this.outbox.setState(SENDING_STATE_KEY, saved);
    } catch (error) {
      this.deps.logger.warn('could not record the endpoint list in the outbox state', { error });
    }
  }

  /**
   * The outbox was last sent from by a client with other endpoints: two apps given one
   * `directory`, or a key or host changed. Whatever it queued goes to this client's endpoints,
   * with this client's keys, which the app should hear of once. Hosts only: keys stay out of logs.
   */
  private warnOfOtherEndpoints(before: unknown, now: SavedSending | undefined): void {
    const listed = (saved: unknown): Record<string, unknown>[] => {
      const list = (saved as { endpoints?: unknown } | null | undefined)?.endpoints;
      return Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
    };
    const identities = (list: Record<string, unknown>[]): string =>
      list
        .map(({ destination, host, key }) =>
          endpointIdentity({ destination: String(destination), host: String(host), key: String(key) }),
        )
        .sort()
        .join('\n\n');
    const was = listed(before);
    const is = listed(now);
    if (was.length === 0 || is.length === 0 || identities(was) === identities(is)) return;
    const hosts = (list: Record<string, unknown>[]): string[] =>
      list.map((e) => `${String(e['destination'])} ${String(e['host'])}`).sort();
    this.deps.logger.warn(
      "this outbox was last sent from by a client with other endpoints (or keys): what it holds goes to this client's; give each app its own name or directory if that is not meant",
      { before: hosts(was), now: hosts(is) },
    );
  }

  /**
   * Aborts the requests in flight and waits until their batches are back in the outbox; a batch
   * claimed meanwhile is released at once (its request sees the aborted signal). Then requests
   * may go out again: the host may go on after `beforeExit`.
   */
  private async cutRequests(): Promise<void> {
    if (this.closed) return;
    this.requests.abort();
    await this.loop.idle();
    if (!this.closed) this.requests = new AbortController();
  }

  private canSend(): boolean {
    return !this.closed && !this.paused && this.isOnlineNow() && !this.finishingInFlight;
  }

  /**
   * The platform asked at each send, not only told by its change events: a worker's change
   * arrives from a poll (a second apart, `platform/generic.ts`), and what it sent in between,
   * though `navigator.onLine` already said offline, failed (counted, `lastError` set, backoff).
   */
  private isOnlineNow(): boolean {
    this.online = this.deps.platform.isOnline();
    return this.online;
  }

  /** See `finishingInFlight`: waits, within the budget left, for the requests already sent. */
  private async finishInFlight(deadline: number): Promise<void> {
    const left = deadline - monotonicNow();
    if (left <= 0) return;
    this.finishingInFlight = true;
    try {
      await settledWithin(this.loop.idle(), left);
    } finally {
      this.finishingInFlight = false;
    }
  }

  /**
   * Node: a last flush within a short budget, then the requests still in flight are cut and
   * their batches released, so they stay in the outbox for the next run and the process is not
   * kept waiting for an endpoint that does not answer. Browsers: what fits in the unload budget,
   * keepalive.
   */
  private onHostExit(): Promise<void> | void {
    if (this.exitHandled || !this.canSend()) return;
    this.exitHandled = true;
    if (this.deps.platform.sendOnUnload === null) {
      return this.flushAtExit();
    }
    return sendPendingOnUnload({
      outbox: this.outbox,
      channels: this.unloadChannels(Date.now()),
      platform: this.deps.platform,
      logger: this.deps.logger,
      budgetBytes: this.options.unloadBudgetBytes,
      keepalive: this.deps.keepaliveBytes ?? pageKeepaliveBytes,
      batchSize: this.options.batchSize,
      carried: this.carriedOnUnload,
      claim: (maxEvents, maxBytes) => this.loop.claim(maxEvents, maxBytes),
      onAcked: (count, endpoint) => {
        this.counters.sent += count;
        this.deps.emit('sent', { endpoint, count });
      },
      onDeadLettered: (records, reason, endpoint) => this.sender.deadLetter(records, reason, endpoint),
    });
  }

  private async flushAtExit(): Promise<void> {
    this.exitFlushing = true;
    const deadline = monotonicNow() + this.options.exitFlushTimeoutMs;
    try {
      // What a durable outbox keeps, the next run sends: a CLI whose endpoint refuses or answers
      // 503 exits after one attempt instead of waiting out retries (0.5-2 s a run, measured).
      // What only memory holds is lost at exit, so then the budget is spent on retries too.
      await this.flushWithin(this.options.exitFlushTimeoutMs, () => this.outbox.keepsAcrossRuns?.() !== true);
    } catch (error) {
      this.deps.logger.warn('flush at exit failed', { error });
    }
    try {
      await this.finishInFlight(deadline);
      await this.cutRequests();
      // A cut request may have counted against its circuit: its snapshot is stored before the
      // host goes on to exit, so that the next run knows (see `EndpointChannel.attempt`); so is
      // a search for a failing event, which a CLI's runs carry on one attempt each.
      await this.stateSaved();
    } finally {
      this.exitFlushing = false;
      this.armExitRearm();
    }
  }

  /**
   * After an exit flush, an unref'd timer: it fires only if something else keeps the process
   * running `EXIT_REARM_MS` longer (an app's async work in its own beforeExit listener, a server
   * it starts), and then the next beforeExit flushes again, so what that work tracks is sent in
   * this run. A process that is ending never runs it. At most `MAX_EXIT_REARMS` times until the
   * loop's own timer fires, so I/O of our own that outlives the flush cannot go round for ever.
   */
  private armExitRearm(): void {
    if (this.closed || this.exitRearms >= MAX_EXIT_REARMS) return;
    if (this.rearmTimer !== undefined) clearTimeout(this.rearmTimer);
    this.rearmTimer = setTimeout(() => {
      this.rearmTimer = undefined;
      if (this.exitFlushing || !this.exitHandled) return;
      this.exitRearms++;
      this.exitHandled = false;
      this.loop.kick();
    }, EXIT_REARM_MS);
    (this.rearmTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Endpoints for the unload send, best first: the ready ones, then those only waiting out a
   * retry of ours (breaker closed). A navigation aborts the sends in flight, and such a failed
   * attempt puts its endpoint in backoff just before `pagehide`: skipping it would send nothing at
   * all. Never one waiting out what it asked for (Retry-After, 429): every hide of the tab sent it
   * a request it had asked not to get, and a 429 never opens the breaker to stop that.
   */
  private unloadChannels(now: number): EndpointChannel[] {
    const allowed = this.channels.filter((c) => !c.waitsAsAsked(now));
    if (this.options.mode === 'fanout') return allowed;
    const ready = allowed.filter((c) => c.isReady(now));
    const waiting = allowed.filter((c) => !c.isReady(now) && c.snapshot(now).state === 'closed');
    return [...ready, ...waiting];
  }
}

function checkTimeout(timeoutMs: unknown): asserts timeoutMs is number {
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || timeoutMs > MAX_DELAY_MS) {
    throw new DeliveryOptionError(
      'timeoutMs',
      `must be a number of ms from 0 to ${MAX_DELAY_MS}, got ${describeValue(timeoutMs)}`,
    );
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
