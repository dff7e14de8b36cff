import { replacedWholeFor } from '../delivery/destinations/redactedTraits.js';
import { Delivery } from '../delivery/Delivery.js';
import { describeValue } from '../describeValue.js';
import { CLIENT_EVENT_NAMES, type ClientEventMap, type ClientEventName } from '../events.js';
import type { FeatureHost } from '../features/feature.js';
import { monotonicClock } from '../integrations/monotonicClock.js';
import type { Logger } from '../logger.js';
import { failureKind } from './failureKind.js';
import type { Outbox } from '../outbox/outbox.js';
import { sizeWithin } from '../outbox/sizeWithin.js';
import { storesAgain } from '../outbox/storesAgain.js';
import { checkEventName } from '../pipeline/eventName.js';
import { Sampler } from '../pipeline/sampling.js';
import { Session } from '../pipeline/session.js';
import { settledWithin } from '../settledWithin.js';
import type { TelemetryCore, TelemetryFlushResult, TelemetryStats } from './client.js';
import { ClientCounts } from './ClientCounts.js';
import { ConsentHold } from './ConsentHold.js';
import { type ConsentStore, outboxConsentStore } from './consentStore.js';
import { DenialClear } from './DenialClear.js';
import { Emitter } from './Emitter.js';
import { describe, EventBuilder } from './EventBuilder.js';
import { distinctIdProblem } from './distinctIdProblem.js';
import { type IdentityStore, outboxIdentityStore } from './identityStore.js';
import { identifyTraits } from './identifyTraits.js';
import { isPropertiesObject } from './isPropertiesObject.js';
import type { ConsentState } from './options.js';
import { PropertiesInPlace } from './PropertiesInPlace.js';
import { TrackedEvents } from './TrackedEvents.js';
import { buildRedactor, patternReplacement } from './redactor.js';
import { RememberedConsent } from './RememberedConsent.js';
import { RunningHook } from './RunningHook.js';
import { StoredEvents } from './StoredEvents.js';
import { ignoredSuperPropertiesWarning, mergeSuperProperties } from './superProperties.js';
import type { ResolvedTelemetryOptions } from './resolveTelemetryOptions.js';
import { checkTimeout } from './resolveTelemetryOptions.js';
import { MAX_WAITING_EVENTS, type Waiting, WaitingEvents } from './WaitingEvents.js';
import type { TelemetryParts } from './TelemetryParts.js';
import { WhoEventsAreAbout } from './WhoEventsAreAbout.js';

export { CONSENT_STATE_KEY } from './consentStateKey.js';
export { MAX_WAITING_EVENTS } from './WaitingEvents.js';
export type { TelemetryParts } from './TelemetryParts.js';

/**
 * The telemetry client: `track()` runs the whole pipeline synchronously in memory (checks,
 * safe clone, enrichment, sampling, redaction, `beforeSend`, one `JSON.stringify`) and appends
 * the record to the outbox, which groups its writes; delivery sends from the outbox on its own
 * unref'd schedule. Until the install id and the remembered consent are read (one small read at
 * start), events wait in memory and delivery is paused.
 */
export class Telemetry implements TelemetryCore {
  private readonly o: ResolvedTelemetryOptions;
  private readonly logger: Logger;
  /** The last failure of the persist before a flush, while it goes on failing. */
  private lastFlushPersistFailure: string | undefined;
  private readonly outbox: Outbox;
  private readonly emitter: Emitter;
  private readonly delivery: Delivery;
  private readonly builder: EventBuilder;
  private readonly session: Session;
  /** Who events are about: `identify()`'s id, the kept identity, the install id. */
  private readonly who: WhoEventsAreAbout;
  private readonly host: FeatureHost;
  private readonly offHooks: Array<() => void> = [];
  /** Unhooks the synchronous write at process exit (kept apart: see `stop`). */
  private readonly offExitNow: (() => void) | undefined;
  /** The process is ending (our `exit` hook ran): each event appended is written synchronously. */
  private exitedNow = false;
  private superProperties: Record<string, unknown> = {};
  /** The `superProperties` option's, as registered at start: what `reset()` goes back to. */
  private optionSuperProperties: Record<string, unknown> = {};
  /** The consent, as set, remembered and read at start (`consent.state` is the one applied). */
  private readonly consent: RememberedConsent;
  /** Events held in memory until the install id (and the remembered consent) is known. */
  private readonly waiting = new WaitingEvents();
  private ready: Promise<void>;
  private closing: Promise<void> | undefined;
  /**
   * Set by `shutdown()` once it is about to close the storage: from then on track() drops.
   * Not at its start: a request handler finishing during a SIGTERM drain tracks while the
   * shutdown flushes, and those events go into the outbox, for this flush or the next run.
   */
  private refusingEvents = false;
  /** setConsent() was called after shutdown() began: its write gets `CONSENT_WRITE_GRACE_MS`. */
  private consentSetWhileClosing = false;
  /** identify() or reset() was called after shutdown() began: its write gets `CONSENT_WRITE_GRACE_MS` too. */
  private identitySetWhileClosing = false;
  /** The events counted (and dropped, by reason), for `stats()`. */
  private readonly counted: ClientCounts;
  private readonly counts: ClientCounts['counts'];
  /** A denial's clear, and what is tracked while it runs. */
  private readonly denialClear: DenialClear;
  /** Confirms what was tracked is stored; its last failure to. */
  private readonly stored: StoredEvents;
  /** What a `track()` call makes of its arguments. */
  private readonly tracked: TrackedEvents;
  /** Tells tools that send from the outbox (`homing flush`) that its events are held for consent. */
  private readonly consentHold: ConsentHold;
  /** The app's hook in the pipeline running now: what it tracks is refused. */
  private readonly hooks: RunningHook;

  constructor(private readonly parts: TelemetryParts) {
    this.o = parts.options;
    this.logger = parts.logger;
    this.outbox = parts.outbox;
    const consentStore: ConsentStore = parts.consentStore ?? outboxConsentStore(parts.outbox);
    const identityStore: IdentityStore = parts.identity ?? outboxIdentityStore(parts.outbox);
    this.consent = new RememberedConsent(this.o, consentStore, identityStore, {
      logger: this.logger,
      apply: (state) => this.applyConsent(state),
      closing: () => this.closing !== undefined,
      storageClosed: () => this.refusingEvents,
    });
    this.who = new WhoEventsAreAbout(
      this.o.distinctId,
      identityStore,
      parts.installId,
      this.outbox,
      this.logger,
    );
    this.emitter = new Emitter(this.logger);
    this.counted = new ClientCounts(this.logger, this.emitter);
    this.counts = this.counted.counts;
    this.denialClear = new DenialClear(this.outbox, MAX_WAITING_EVENTS, {
      logger: this.logger,
      drop: (reason, count, detail) => this.counted.drop(reason, count, detail),
      notify: (count, bytes) => this.delivery.notify(count, bytes),
    });
    this.stored = new StoredEvents(this.outbox, this.denialClear, this.counts, this.logger, () => this.ready);
    this.consentHold = new ConsentHold(this.outbox, this.logger, this.o.now);
    // Nothing identifying is stored while consent is denied, or may be (see `installIdAllowedNow`).
    this.session = new Session(this.o.sessionIdleMs, parts.session, () => this.consent.installIdAllowedNow());
    const inPlace = new PropertiesInPlace(this.o);
    this.hooks = new RunningHook(this.logger);
    this.builder = new EventBuilder({
      sampler: new Sampler(parts.sampling ?? {}),
      redact: buildRedactor(this.o.redaction, this.o.propertyLimits.maxStringLength),
      // Properties read in place hold no field the field pass replaces: the pattern pass alone.
      redactInPlace: inPlace.redact,
      beforeSend: this.o.beforeSend,
      propertyLimits: this.o.propertyLimits,
      maxEventBytes: this.o.maxEventBytes,
      hooks: this.hooks,
    });
    this.tracked = new TrackedEvents(this.o, this.session, inPlace, this.waiting, this.who, this.counts);
    this.host = {
      track: (event, properties) => this.track(event, properties),
      persist: () => this.persist(),
      logger: this.logger,
      now: this.o.now,
    };
    this.register(this.o.superProperties);
    this.optionSuperProperties = this.superProperties;
    this.delivery = new Delivery(this.outbox, parts.delivery, {
      platform: parts.platform,
      logger: this.logger,
      emit: this.emitter.emit,
      replacedWhole: replacedWholeFor(patternReplacement(this.o.redaction)),
    });
    this.delivery.setPaused(true);
    // First: it throws when the outbox has a client already, and nothing may be left hooked then.
    this.delivery.start();
    this.offHooks.push(this.outbox.onDrop((d) => this.counted.drop(d.reason, d.count)));
    // No identifier is stored on the device while consent is denied (see `RememberedConsent.installIdAllowedNow`).
    if (this.consent.installIdAllowedNow()) this.who.installId = this.who.installIdNow(true);
    this.offHooks.push(parts.platform.onExit(() => this.onExit()));
    void storesAgain(this.outbox).then(() => this.storageRecovered());
    const offKeptFilesLost = this.outbox.onKeptFilesLost?.(() => this.keptFilesLost());
    if (offKeptFilesLost !== undefined) this.offHooks.push(offKeptFilesLost);
    this.offExitNow = parts.platform.onExitNow?.(() => {
      this.exitedNow = true;
      // The clear cannot finish in this turn: what it held is written with the rest.
      this.denialClear.release();
      this.outbox.persistOnExit?.();
      // An identify() or reset() in the turn the process ends in: kept for the next run.
      this.who.keeper.finishNow(this.consent.state, this.consent.undecided);
    });
    // `start` handles its own failures; this only keeps a missed one from reaching the host.
    this.ready = this.start().catch((error: unknown) => {
      this.logger.warn('starting the client failed', { error });
    });
  }

  track(event: string, properties?: Record<string, unknown>): void {
    try {
      this.enqueue(event, properties, false);
    } catch {
      // No stack left to enter `enqueue` (the app recursing deep): nothing was counted either.
    }
  }

  private enqueue(
    event: string,
    properties: Record<string, unknown> | undefined,
    fillAnonId: boolean,
    anonDistinctId?: string,
    distinctId: string | undefined = this.who.identified,
  ): void {
    try {
      this.counts.tracked++;
      if (this.refusingEvents) return this.counted.drop('disabled', 1, 'tracked after shutdown');
      if (this.consent.state === 'denied' && !this.consent.unread) return this.counted.drop('consent', 1);
      const insideHook = this.hooks.refusal();
      if (insideHook !== undefined) return this.counted.drop('rejected', 1, insideHook);
      const name = checkEventName(event);
      if (!name.ok) return this.counted.drop('invalid', 1, name.detail);
      const tracked = this.tracked.read(name.name, name.fixed, properties, fillAnonId, anonDistinctId);
      this.accept({ tracked, distinctId, fillAnonId });
    } catch (error) {
      // Nothing above should throw; if it does, the app still must not see it. Nothing above
      // throws once it counted the event (`ClientCounts.drop`, `append`), so it is counted here:
      // in place, as a call at the depth that failed (the app recursing deep) could fail again.
      this.counted.dropped.invalid++;
      this.tellInvalid(error);
    }
  }

  /** Says an event counted as `invalid` in a catch was dropped, if there is stack left to. */
  private tellInvalid(error: unknown): void {
    try {
      this.counted.tell('invalid', 1, describe(error));
    } catch {}
  }

  identify(distinctId: string, traits?: Record<string, unknown>): void {
    try {
      // Not an option: the warning names identify's argument, not `distinctId`.
      const problem = distinctIdProblem(distinctId);
      if (problem !== undefined) return this.logger.warn(`identify ignored: its id ${problem}`);
      const id = distinctId.trim();
      // Refused before anything changes: an id taken without its `$identify` is the half state.
      if (this.hooks.identifyRefusal() !== undefined) return;
      const read = identifyTraits(traits, this.o.propertyLimits);
      if (read.problem !== undefined) this.logger.warn(`identify: ${read.problem}`);
      this.who.identityChosen = true;
      const previous = this.who.identified ?? this.who.installId;
      if (id === previous && read.traits === undefined) return;
      // Only the id events went out under before anyone was identified (the install id, or the
      // `distinctId` option) is linked to the new one: from one identified user to another (a
      // user switch without reset()) PostHog would merge the two people, and Segment would send
      // one user's id as the other's anonymousId.
      const anonymous = this.who.identified === this.o.distinctId;
      this.who.identified = id;
      this.keepIdentity(id);
      const fillAnonId = anonymous && previous === undefined;
      const linked = !anonymous || previous === undefined || previous === id ? undefined : previous;
      // `$set` even when empty: without it the Segment destination took the event's other
      // properties (the super properties) for the user's traits.
      const set = { $set: read.traits ?? {} };
      if (this.hooks.running === undefined) return this.enqueue('$identify', set, fillAnonId, linked);
      // Inside a hook it would be refused as tracked there (see `RunningHook`): tracked once it
      // returned, about the id and the anonymous id of this call, as it would be outside a hook.
      // Read when held, a reset() or another identify() later in the same hook sent it about
      // someone else (alice's traits on the logged-out user, linked to the id before).
      const anonNow = fillAnonId ? this.who.installId : undefined;
      this.hooks.afterHooks(() =>
        this.enqueue('$identify', set, fillAnonId && anonNow === undefined, linked ?? anonNow, id),
      );
    } catch (error) {
      this.logger.warn('identify ignored', { error });
    }
  }

  reset(): void {
    try {
      this.who.reset(this.consent.installIdAllowedNow());
      this.session.restart();
      this.keepIdentity(undefined);
      // A logout: what register() added since the start (a plan, an org) was the user's who
      // left, and went on every event of the next one. posthog-js's reset() clears them too.
      this.setSuperProperties(this.optionSuperProperties);
    } catch (error) {
      this.logger.warn('reset ignored', { error });
    }
  }

  /**
   * Stores the identity for the next runs, off the caller's turn, as consent allows. While
   * shutdown() flushes too: a logout in a SIGTERM drain left the next run tracking the user who
   * had left. Once the storage is closed it cannot be, and the app is told so.
   */
  private keepIdentity(id: string | undefined): void {
    if (this.refusingEvents) {
      this.logger.warn(
        `${id === undefined ? 'reset()' : 'identify()'} after shutdown() is not kept for the next runs (the client has shut down): call it before shutdown(), or on the next run's client`,
      );
      return;
    }
    if (this.closing === undefined)
      return this.who.keeper.keep(id, this.consent.state, this.consent.undecided);
    this.identitySetWhileClosing = true;
    this.who.keeper.keepWhileClosing(id, this.consent.state, this.consent.undecided);
  }

  register(superProperties: Record<string, unknown>): void {
    try {
      if (!isPropertiesObject(superProperties)) {
        this.logger.warn('register ignored: super properties must be an object');
        return;
      }
      const limits = this.o.propertyLimits;
      const { merged, ignored, refused } = mergeSuperProperties(
        this.superProperties,
        superProperties,
        limits,
      );
      if (refused) {
        this.logger.warn(
          'register ignored: super properties must be a plain object (not a Date, nor unreadable)',
        );
        return;
      }
      if (ignored.length > 0) this.logger.warn(ignoredSuperPropertiesWarning(ignored, limits.maxProperties));
      this.setSuperProperties(merged);
    } catch (error) {
      this.logger.warn('register ignored', { error });
    }
  }

  unregister(name: string): void {
    try {
      if (typeof name !== 'string') {
        this.logger.warn(`unregister ignored: the name must be a string, got ${describeValue(name)}`);
        return;
      }
      if (!Object.hasOwn(this.superProperties, name)) return;
      // A new object: the builder keeps the one it was given as it is.
      const rest = { ...this.superProperties };
      delete rest[name];
      this.setSuperProperties(rest);
    } catch (error) {
      this.logger.warn('unregister ignored', { error });
    }
  }

  private setSuperProperties(properties: Record<string, unknown>): void {
    this.superProperties = properties;
    this.builder.setSuperProperties(properties);
  }

  setConsent(state: ConsentState): void {
    try {
      if (state !== 'granted' && state !== 'denied' && state !== 'pending') {
        this.logger.warn('setConsent ignored: the state must be granted, denied or pending', { state });
        return;
      }
      if (this.closing !== undefined) this.consentSetWhileClosing = true;
      this.consent.set(state);
    } catch (error) {
      this.logger.warn('setConsent failed', { error });
    }
  }

  /**
   * Resolves once what was tracked is stored; rejects with the storage's error when it could not
   * be (a full or read-only disk), which `stats().lastError` also names.
   */
  persist(): Promise<void> {
    return this.stored.persist().then(() => {
      this.lastFlushPersistFailure = undefined;
    });
  }

  async flush(options?: { timeoutMs?: number }): Promise<TelemetryFlushResult> {
    const timeoutMs = checkTimeout(options);
    const deadline = monotonicNow() + timeoutMs;
    if (this.closing !== undefined)
      return { sent: 0, pending: await this.pending(timeoutMs), timedOut: false };
    if (!(await settledWithin(this.ready, timeoutMs)))
      return { sent: 0, pending: await this.pending(deadline - monotonicNow()), timedOut: true };
    // Within the budget: storing many events just tracked can take longer than a short one
    // (100 000 on a local SSD: a few hundred ms), and the write goes on in the background.
    await settledWithin(
      this.persist().catch((error: unknown) => this.persistBeforeFlushFailed(error)),
      Math.max(0, deadline - monotonicNow()),
    );
    if (this.consent.state !== 'granted')
      return { sent: 0, pending: await this.pending(deadline - monotonicNow()), timedOut: false };
    return this.delivery.flush(Math.max(0, deadline - monotonicNow()));
  }

  /**
   * A warning for a new failure, debug for the same kind again (`failureKind`) until a persist
   * succeeds: a storage that cannot keep events (a page's memory stand-in, a read-only or full
   * disk) fails every flush's persist alike, and an app that flushes often had its log filled
   * with one line per flush.
   */
  private persistBeforeFlushFailed(error: unknown): void {
    const kind = failureKind(error);
    const level = kind === this.lastFlushPersistFailure ? 'debug' : 'warn';
    this.lastFlushPersistFailure = kind;
    this.logger[level]('persist before flush failed', { error });
  }

  shutdown(options?: { timeoutMs?: number }): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = checkTimeout(options);
    } catch (error) {
      return Promise.reject(error);
    }
    this.closing ??= this.stop(timeoutMs);
    return this.closing;
  }

  async stats(): Promise<TelemetryStats> {
    const d = this.delivery.stats();
    // A closed, broken or unanswering storage: say so with null rather than fail or hang the caller.
    const queue = await sizeWithin(this.outbox, STATS_QUEUE_WAIT_MS);
    // Events held for a consent that cannot be read are in no queue: lastError says why.
    return this.counted.stats(
      d,
      queue,
      this.consent.unreadableError ?? this.stored.error,
      this.consent.state,
    );
  }

  on<K extends ClientEventName>(name: K, listener: (payload: ClientEventMap[K]) => void): () => void {
    // Ignored, as other bad arguments are, but said: a misspelt name never hears anything.
    if (!CLIENT_EVENT_NAMES.has(name)) {
      this.logger.warn(
        `on(${describeValue(name)}) ignored: not an event of the client (${[...CLIENT_EVENT_NAMES].join(', ')})`,
      );
      return () => {};
    }
    if (typeof listener !== 'function') {
      this.logger.warn(
        `on(${describeValue(name)}) ignored: its listener is ${describeValue(listener)}, not a function`,
      );
      return () => {};
    }
    return this.emitter.on(name, listener);
  }

  featureHost(): FeatureHost {
    return this.host;
  }

  /** Reads the remembered consent and the install id, then lets waiting events and delivery go. */
  private async start(): Promise<void> {
    // The consent is no longer unread after it (nor before, when it is not remembered).
    const remembered = this.o.rememberConsent && (await this.consent.readAtStart());
    const consent = this.consent;
    // An id identify() held until now is written or not, even when shutdown() began meanwhile:
    // it was asked for before. Not while the consent is unknown: it may be a denial.
    if (!consent.unknown) this.who.keeper.consentChanged(consent.state);
    // Starting denied (from the options) clears what an earlier run held, as `setConsent` does.
    if (!remembered && !consent.chosen && consent.state === 'denied') this.applyConsent('denied');
    if (this.who.pendingIdentity !== undefined) await this.who.restoreKept();
    // Not while the consent is unknown either: `applyConsent` makes it once it is known to allow it.
    if (consent.unknown && this.who.installId === undefined) {
      this.who.installIdDeferred = true;
      return;
    }
    // Denied: events are dropped, so no id is needed; one is made if consent is granted later.
    if (consent.state !== 'denied') this.who.installId ??= await this.who.loadInstallId();
    this.releaseWaiting();
  }

  /** Builds and appends the events that waited for the install id, and lets delivery go. */
  private releaseWaiting(): void {
    for (const w of this.waiting.release()) this.append(w);
    // Shutting down too: an app that tracks and ends at once holds its events all the same.
    this.consentHold.note(this.consent.state);
    if (this.closing === undefined) this.delivery.setPaused(this.consent.state !== 'granted');
  }

  /**
   * Consent was granted (or set pending) after a start under a denial, or under a consent that
   * could not be read, which made no install id: it is made now, synchronously where its store
   * can; otherwise events wait in memory for it (after those held while the consent was
   * unknown), as they do at start, and flush and shutdown wait for it too.
   */
  private makeInstallIdLater(): void {
    this.who.installIdDeferred = false;
    this.who.installId = this.who.installIdNow();
    if (this.who.installId !== undefined) return this.releaseWaiting();
    this.waiting.reopen();
    const made = this.who.loadInstallId().then((id) => {
      this.who.installId ??= id;
      this.releaseWaiting();
    });
    this.ready = this.ready.then(() => made);
  }

  /**
   * Appends at once when the event's distinct id is known, even before `start` finished:
   * delivery is paused until then, and a remembered 'denied' clears the outbox. Otherwise (and
   * while earlier events wait, to keep their order) the event waits in memory.
   */
  private accept(w: Waiting): void {
    const who = this.who;
    const known =
      (w.distinctId ?? who.installId) !== undefined &&
      !(w.fillAnonId === true && who.installId === undefined) &&
      // A kept identity still being read may be who this event is about.
      !(w.distinctId === undefined && who.pendingIdentity !== undefined);
    // While consent is unread, a 'denied' event waits for the remembered state (see `consent.unread`).
    if (this.waiting.released || (known && this.waiting.count === 0 && this.consent.state !== 'denied'))
      return this.append(w);
    if (!this.waiting.hold(w, this.builder, this.o.propertyLimits))
      return this.counted.drop('overflow', 1, 'waiting for the install id');
  }

  private append(w: Waiting): void {
    /** The bytes appended for delivery to hear of (not when held by a denial's clear, or at exit). */
    let appended: number | undefined;
    let persistNow = false;
    try {
      if (this.consent.state === 'denied') return this.counted.drop('consent', 1);
      if (w.fillAnonId === true) w.tracked.anonDistinctId = this.who.installId;
      const known = w.distinctId ?? this.who.restoredIdentity;
      const distinctId = known ?? this.who.installId!;
      const result = this.builder.build(
        w.tracked,
        distinctId,
        known === undefined,
        w.supers,
        this.session.samplingPointFor(w.tracked.sessionId, distinctId),
      );
      if (!result.ok) return this.counted.drop(result.reason, 1, result.detail);
      if (this.denialClear.holding) {
        if (!this.denialClear.hold(result.record)) return;
      } else {
        this.outbox.append([result.record]);
        // Tracked by an app's own `exit` listener, after ours wrote what was in memory: nothing
        // asynchronous runs any more, so this one is written now, for the next run to send.
        if (this.exitedNow) persistNow = true;
        else appended = result.record.json.length;
      }
      this.counts.queued++;
    } catch (error) {
      // Events that waited for the install id are built in `start`, off the app's turn: a
      // throwing `beforeSend` or clock must cost that event only, not reject `start`. Counted
      // in place, as in `enqueue`.
      this.counted.dropped.invalid++;
      return this.tellInvalid(error);
    }
    // Queued: a failure from here on (the stack running out) must not count it again as invalid.
    if (persistNow) {
      try {
        this.outbox.persistOnExit?.();
      } catch (error) {
        this.logger.warn('persist at exit failed', { error });
      }
    }
    try {
      if (appended !== undefined) this.delivery.notify(1, appended);
      if (this.closing === undefined) this.stored.scheduleConfirm();
    } catch {}
  }

  /** The client takes `state` as its consent: from `setConsent`, the remembered one, or elsewhere. */
  private applyConsent(state: ConsentState): void {
    this.consent.state = state;
    // `start` makes the id itself once the remembered consent is read (`waiting` is released
    // after), unless it was unknown then (`installIdDeferred`).
    if (
      state !== 'denied' &&
      this.who.installId === undefined &&
      (this.waiting.released || this.who.installIdDeferred) &&
      this.closing === undefined
    )
      this.makeInstallIdLater();
    // While `start` reads the remembered consent, the keeper is told there, once it is read.
    // While shutdown() flushes too: a denial in a SIGTERM drain removes the kept id, as before it.
    if (!this.refusingEvents && !this.consent.undecided) this.who.keeper.consentChanged(state);
    if (state === 'denied') {
      if (this.waiting.count > 0) {
        this.counted.drop('consent', this.waiting.count);
        this.waiting.empty();
      }
      this.who.removeStoredInstallId();
      this.denialClear.start();
    }
    // Once the consent is known (`start` notes it when it is read), and while the storage is open.
    if (!this.consent.undecided && !this.refusingEvents) {
      this.consentHold.note(state);
      // The install id a denial removed from the device, kept again once consent allows.
      if (state !== 'denied') this.who.storeAfterGrant();
    }
    if (this.closing === undefined) this.delivery.setPaused(state !== 'granted' || !this.waiting.released);
  }

  /**
   * The outbox fell back to memory at start and stores again (its directory was fixed): what
   * could not be kept for the next runs then, beside it, is kept now, as consent allows.
   */
  private storageRecovered(): void {
    if (this.closing !== undefined) return;
    this.who.keeper.writeAgain();
    if (this.consent.state !== 'denied' && !this.consent.undecided) void this.who.storeRunOnlyInstallId();
  }

  /**
   * The outbox's directory takes writes again after it lost what was kept beside it, or never got
   * it (see `Outbox.onKeptFilesLost`): the install id and the identity (and one whose write
   * failed) are written there again, as consent allows.
   */
  private keptFilesLost(): void {
    if (this.closing !== undefined) return;
    this.who.keeper.writeAgain();
    if (this.consent.state === 'denied' || this.consent.undecided) return;
    // The remembered grant first: an install id on disk under a consent back to 'pending' made
    // the next run hold (and not send) the events of a user who had granted. All in this call
    // where the stores write synchronously (the files beside the outbox): the directory may have
    // been made again by the write at exit, after which no later turn comes.
    const writeIdsAgain = (): void => {
      void this.who.storeInstallIdAgain();
      this.who.keeper.writeLostAgain();
    };
    if (this.consent.writeAgainNow()) writeIdsAgain();
    else void this.consent.writeAgain().then(writeIdsAgain);
  }

  /** Node `beforeExit` / page hide: store what was tracked (delivery makes its own last flush). */
  private onExit(): Promise<void> | void {
    if (this.closing !== undefined || this.counts.queued <= this.counts.persisted) return;
    // A page being left runs nothing that waits on storage: what a clear held goes in now, for
    // the unload send and the unload spill (a clear still running may then take it too).
    if (this.parts.platform.sendOnUnload !== null) this.denialClear.release();
    return this.persist().catch((error: unknown) => this.logger.warn('persist at exit failed', { error }));
  }

  private async stop(timeoutMs: number): Promise<void> {
    const deadline = monotonicNow() + timeoutMs;
    this.stored.stopConfirming();
    this.consent.stopWatching();
    await settledWithin(this.ready, timeoutMs);
    // Held while the remembered consent could not be read, and it still cannot (it may be a
    // denial): no install id to store them under, so they end with the process.
    if (this.who.installIdDeferred && this.waiting.count > 0) {
      this.counted.drop('unsaved', this.waiting.count, 'the remembered consent could not be read');
      this.waiting.empty();
    }
    // Waited for within the budget only; the write goes on, and nothing tracked is lost when it
    // outlasts the budget: a storage we opened writes what it still holds in `close()` below
    // (which so ends after the budget when the write does), and one the app passed keeps the
    // exit hook that writes it synchronously until the write is done (or the app closes it).
    const persisted = this.persist().catch((error: unknown) =>
      this.logger.warn('persist at shutdown failed', { error }),
    );
    await settledWithin(persisted, Math.max(0, deadline - monotonicNow()));
    await settledWithin(this.consent.written, Math.max(0, deadline - monotonicNow()));
    try {
      this.delivery.setPaused(this.consent.state !== 'granted' || !this.waiting.released);
      await this.delivery.shutdown(Math.max(0, deadline - monotonicNow()));
    } catch (error) {
      this.logger.warn('delivery shutdown failed', { error });
    }
    // Nothing is sent any more: the connections kept alive for delivery go (one per client
    // otherwise, in a process that makes many). A platform the app passed may serve others.
    if (this.parts.ownsPlatform === true) {
      try {
        this.parts.platform.close?.();
      } catch (error) {
        this.logger.warn('closing the platform failed', { error });
      }
    }
    // A consent or identity set while this ran (a denial or a logout in a SIGTERM drain) is
    // written before the storage closes: a privacy choice gets a moment past an exhausted budget.
    const left = Math.max(0, deadline - monotonicNow());
    await settledWithin(
      Promise.all([this.consent.written, this.consentHold.settled, this.who.keeper.written]),
      this.consentSetWhileClosing || this.identitySetWhileClosing
        ? Math.max(CONSENT_WRITE_GRACE_MS, left)
        : left,
    );
    this.refusingEvents = true;
    // A clear that outlasted the budget: what it held goes in before the storage closes.
    this.denialClear.release();
    if (this.parts.ownsOutbox) {
      await this.outbox.close().then(
        // Closed, it wrote what it held: events tracked while shutdown ran (whose background
        // confirmation had stopped) are stored too.
        () => {
          if (this.outbox.keepsAcrossRuns?.() === true && this.counts.persisted < this.counts.queued)
            this.counts.persisted = this.counts.queued;
        },
        (error: unknown) => this.logger.warn('closing the storage failed', { error }),
      );
    }
    // After the close: what it gives up (a last write that failed, a memory queue) is counted.
    for (const off of this.offHooks.splice(0)) off();
    if (this.parts.ownsOutbox) this.offExitNow?.();
    else void persisted.finally(() => this.offExitNow?.());
    this.emitter.clear();
  }

  /** The events waiting, as the storage answers within `budgetMs` (-1 when it does not). */
  private async pending(budgetMs: number): Promise<number> {
    return (await sizeWithin(this.outbox, budgetMs))?.events ?? -1;
  }
}

/** How long shutdown waits for a consent written while it ran, even once its budget is spent. */
const CONSENT_WRITE_GRACE_MS = 200;

/**
 * Where flush and shutdown budgets are measured: not the `now` option (event times) nor the wall
 * clock, which, stepped back while a flush waited, handed delivery an hour of a 2 s budget.
 */
const monotonicNow = monotonicClock();

/** How long `stats()` waits for the storage's answer about the queue (then `queue` is null). */
const STATS_QUEUE_WAIT_MS = 2_000;
