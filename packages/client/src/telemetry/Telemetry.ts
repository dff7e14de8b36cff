import { Delivery } from '../delivery/Delivery.js';
import type { DeliveryOptions } from '../delivery/deliveryOptions.js';
import type { ClientDropReason, ClientEventMap, ClientEventName } from '../events.js';
import type { FeatureHost } from '../features/feature.js';
import { monotonicClock } from '../integrations/monotonicClock.js';
import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import { sizeWithin } from '../outbox/sizeWithin.js';
import { checkEventName } from '../pipeline/eventName.js';
import { checkPlainJsonData } from '../pipeline/plainJsonData.js';
import { compileFieldSet, DEFAULT_REDACTED_FIELDS } from '../pipeline/redactFields.js';
import { safeClone, type SafeLimits } from '../pipeline/safeSerialize.js';
import { Sampler } from '../pipeline/sampling.js';
import { Session, type SessionStore } from '../pipeline/session.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import type { Platform } from '../platform/platform.js';
import { settledWithin } from '../settledWithin.js';
import type { TelemetryCore, TelemetryFlushResult, TelemetryStats } from './client.js';
import { emptyDropCounts } from './client.js';
import { ConsentWatch, UNREAD } from './ConsentWatch.js';
import { type ConsentStore, outboxConsentStore } from './consentStore.js';
import { DenialClear } from './DenialClear.js';
import { Emitter } from './Emitter.js';
import type { SuperState, TrackedEvent } from './EventBuilder.js';
import { describe, ENRICHED_KEYS, EventBuilder } from './EventBuilder.js';
import type { InstallIdStore } from './installId.js';
import { loadInstallId } from './installId.js';
import { distinctIdProblem } from './distinctIdProblem.js';
import { IdentityKeeper } from './IdentityKeeper.js';
import { type IdentityStore, outboxIdentityStore } from './identityStore.js';
import type { ConsentState, TelemetryOptions } from './options.js';
import { buildRedactor } from './redactor.js';
import { ignoredSuperPropertiesWarning, mergeSuperProperties } from './superProperties.js';
import type { ResolvedTelemetryOptions } from './resolveTelemetryOptions.js';
import { checkTimeout } from './resolveTelemetryOptions.js';
import { CONSENT_STATE_KEY } from './consentStateKey.js';

export { CONSENT_STATE_KEY } from './consentStateKey.js';
/** Events tracked before the install id is read are held in memory, at most this many. */
export const MAX_WAITING_EVENTS = 10_000;
/** How often appended events are confirmed stored for `stats().persisted`, at most. */
const CONFIRM_INTERVAL_MS = 1_000;

/** An event waiting for the install id: `distinctId` undefined means "the install id". */
interface Waiting {
  readonly tracked: TrackedEvent;
  readonly distinctId: string | undefined;
  /** Set when it waits: the super properties of its `track` call, not of the time it is built. */
  supers?: SuperState;
  /** `$identify` before the install id was known: its `$anon_distinct_id` is filled in then. */
  readonly fillAnonId?: boolean;
}

export interface TelemetryParts {
  readonly options: ResolvedTelemetryOptions;
  readonly sampling: TelemetryOptions['sampling'];
  readonly platform: Platform;
  readonly logger: Logger;
  readonly outbox: Outbox;
  /** false when the app passed its own Outbox: it closes it, not us. */
  readonly ownsOutbox: boolean;
  readonly installId: InstallIdStore | undefined;
  /** Where `identify()`'s id is kept across runs; default the outbox state. */
  readonly identity?: IdentityStore | undefined;
  /** Where the session is kept for other tabs and page loads; default memory. */
  readonly session?: SessionStore | undefined;
  /** Where the consent is remembered (`rememberConsent`); default the outbox state. */
  readonly consentStore?: ConsentStore | undefined;
  readonly delivery: DeliveryOptions;
}

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
  private readonly outbox: Outbox;
  private readonly emitter: Emitter;
  private readonly delivery: Delivery;
  private readonly builder: EventBuilder;
  private readonly session: Session;
  private readonly identityStore: IdentityStore;
  private readonly identityKeeper: IdentityKeeper;
  /** The kept identity, when its store answers asynchronously (read in `start`). */
  private pendingIdentity: Promise<string | undefined> | undefined;
  /** `identify()` or `reset()` was called: a kept identity read later must not override it. */
  private identityChosen = false;
  /** The kept identity restored in `start`, for the events that waited for it. */
  private restoredIdentity: string | undefined;
  private readonly host: FeatureHost;
  private readonly offHooks: Array<() => void> = [];
  /** Unhooks the synchronous write at process exit (kept apart: see `stop`). */
  private readonly offExitNow: (() => void) | undefined;
  /** The process is ending (our `exit` hook ran): each event appended is written synchronously. */
  private exitedNow = false;
  private superProperties: Record<string, unknown> = {};
  private identified: string | undefined;
  private installId: string | undefined;
  private consent: ConsentState;
  private consentChosen = false;
  /**
   * The remembered consent is still being read: until then a 'denied' from the options may yet
   * give way to a remembered 'granted', so events wait in memory instead of being dropped.
   */
  private consentUnread: boolean;
  /**
   * The remembered consent is there but could not be read (an I/O error, a damaged file): it may
   * be a denial, so the client holds events (pending) instead of taking the option's consent,
   * and keeps reading it (`consentWatch`) until it can, or the app sets consent.
   */
  private consentUnknown = false;
  /**
   * `start` made no install id because the consent was unknown (it may be a denial, and the id
   * would stay on the device): events wait in memory until it is known, then it is made if allowed.
   */
  private installIdDeferred = false;
  private readonly consentStore: ConsentStore;
  /** The latest `setConsent` write: shutdown waits for it (within its budget), as for events. */
  private consentWrite: Promise<unknown> = Promise.resolve();
  private waiting: Waiting[] | null = [];
  private ready: Promise<void>;
  private closing: Promise<void> | undefined;
  private confirmTimer: ReturnType<typeof setTimeout> | undefined;
  /** Follows consent set by other processes or tabs on the same storage (when it is remembered). */
  private readonly consentWatch: ConsentWatch | null;
  private readonly counts = { tracked: 0, fixed: 0, queued: 0, persisted: 0 };
  /** A denial's clear, and what is tracked while it runs. */
  private readonly denialClear: DenialClear;
  /** The last failure to store events (a full or read-only disk), for `stats().lastError`. */
  private storageError: { endpoint: string; reason: string; atMs: number } | null = null;
  private readonly dropped = emptyDropCounts();
  /**
   * The names the field pass of `buildRedactor` replaces (null: none), or undefined when the
   * pipeline may write to the properties in other ways (`custom`, `beforeSend`): see `readsInPlace`.
   */
  private readonly redactedFields: ReadonlySet<string> | null | undefined;
  /** `isClean` of the pass properties read in place go through: checked in the same walk. */
  private readonly cleanString: ((s: string) => boolean) | undefined;

  constructor(private readonly parts: TelemetryParts) {
    this.o = parts.options;
    this.logger = parts.logger;
    this.outbox = parts.outbox;
    this.consent = this.o.consent;
    this.consentUnread = this.o.rememberConsent;
    this.consentStore = parts.consentStore ?? outboxConsentStore(parts.outbox);
    this.consentWatch = this.o.rememberConsent
      ? new ConsentWatch(
          {
            read: () => this.consentStore.read(),
            // A write retried after ours failed: shutdown waits for it, as for `setConsent`'s.
            write: (state) => {
              const write = this.consentStore.write(state);
              this.consentWrite = write.catch(() => undefined);
              return write;
            },
          },
          CONSENT_STATE_KEY,
          (state) => this.consentFromElsewhere(state),
          this.logger,
        )
      : null;
    this.identified = this.o.distinctId;
    this.identityStore = parts.identity ?? outboxIdentityStore(parts.outbox);
    this.identityKeeper = new IdentityKeeper(this.identityStore, this.logger);
    if (this.identified === undefined) this.identified = this.keptIdentityNow();
    this.emitter = new Emitter(this.logger);
    this.denialClear = new DenialClear(this.outbox, MAX_WAITING_EVENTS, {
      logger: this.logger,
      drop: (reason, count, detail) => this.drop(reason, count, detail),
      notify: (count, bytes) => this.delivery.notify(count, bytes),
    });
    this.redactedFields = fieldsRedactedBy(this.o);
    this.session = new Session(this.o.sessionIdleMs, parts.session);
    const scanLength = this.o.propertyLimits.maxStringLength;
    const redactInPlace = buildRedactor(
      this.o.redaction === false ? false : { ...this.o.redaction, fields: false },
      scanLength,
    );
    this.cleanString = redactInPlace.isClean;
    this.builder = new EventBuilder({
      sampler: new Sampler(parts.sampling ?? {}),
      redact: buildRedactor(this.o.redaction, scanLength),
      // Properties read in place hold no field the field pass replaces: the pattern pass alone.
      redactInPlace,
      beforeSend: this.o.beforeSend,
      propertyLimits: this.o.propertyLimits,
      maxEventBytes: this.o.maxEventBytes,
    });
    this.host = {
      track: (event, properties) => this.track(event, properties),
      persist: () => this.persist(),
      logger: this.logger,
      now: this.o.now,
    };
    this.register(this.o.superProperties);
    this.delivery = new Delivery(this.outbox, parts.delivery, {
      platform: parts.platform,
      logger: this.logger,
      emit: this.emitter.emit,
    });
    this.delivery.setPaused(true);
    // First: it throws when the outbox has a client already, and nothing may be left hooked then.
    this.delivery.start();
    this.offHooks.push(this.outbox.onDrop((d) => this.drop(d.reason, d.count)));
    // No identifier is stored on the device while consent is denied (see `installIdAllowedNow`).
    if (this.installIdAllowedNow()) this.installId = this.installIdNow(true);
    this.offHooks.push(parts.platform.onExit(() => this.onExit()));
    this.offExitNow = parts.platform.onExitNow?.(() => {
      this.exitedNow = true;
      // The clear cannot finish in this turn: what it held is written with the rest.
      this.denialClear.release();
      this.outbox.persistOnExit?.();
      // An identify() or reset() in the turn the process ends in: kept for the next run.
      this.identityKeeper.finishNow(this.consent, this.consentUnread || this.consentUnknown);
    });
    // `start` handles its own failures; this only keeps a missed one from reaching the host.
    this.ready = this.start().catch((error: unknown) => {
      this.logger.warn('starting the client failed', { error });
    });
  }

  track(event: string, properties?: Record<string, unknown>): void {
    this.enqueue(event, properties, false);
  }

  private enqueue(
    event: string,
    properties: Record<string, unknown> | undefined,
    fillAnonId: boolean,
    anonDistinctId?: string,
  ): void {
    try {
      this.counts.tracked++;
      if (this.closing !== undefined) return this.drop('disabled', 1, 'tracked after shutdown');
      if (this.consent === 'denied' && !this.consentUnread) return this.drop('consent', 1);
      const name = checkEventName(event);
      if (!name.ok) return this.drop('invalid', 1, name.detail);
      let fixed = name.fixed;
      let props: Record<string, unknown> = {};
      let inPlace = false;
      let clean = false;
      let tooLarge = false;
      if (properties !== undefined && properties !== null) {
        try {
          if (typeof properties === 'object' && !Array.isArray(properties)) {
            // `$identify` gets `$anon_distinct_id` written into its properties: never the app's object.
            const read = this.readsInPlace(fillAnonId || anonDistinctId !== undefined, properties);
            inPlace = read !== 'no';
            clean = read === 'clean';
            if (inPlace) props = properties;
            else {
              // Stops once the JSON would be over maxEventBytes: the event is then dropped as too large.
              const clone = safeClone(properties, this.o.propertyLimits, this.o.maxEventBytes);
              if (isPropertiesObject(clone.value)) props = clone.value;
              else fixed = true; // unreadable as a whole (a Proxy whose traps throw): kept without them
              tooLarge = clone.tooLarge === true;
              // What the clone left out for the size is no repair: the event is not sent.
              if (clone.issues > 0 && !tooLarge) fixed = true;
            }
          } else fixed = true; // a string, number or array where properties belong: kept without them
        } catch {
          // A revoked Proxy, or one whose traps throw at the first look: the event, without them.
          props = {};
          inPlace = false;
          clean = false;
          fixed = true;
        }
      }
      if (fixed) this.counts.fixed++;
      const nowMs = this.o.now();
      const tracked: TrackedEvent = {
        uuid: uuidv7(nowMs),
        name: name.name,
        properties: props,
        inPlace,
        clean,
        tooLarge,
        nowMs,
        sessionId: this.session.touch(nowMs),
        anonDistinctId,
      };
      this.accept({ tracked, distinctId: this.identified, fillAnonId });
    } catch (error) {
      // Nothing above should throw; if it does, the app still must not see it.
      this.drop('invalid', 1, describe(error));
    }
  }

  /**
   * Whether `track()` may read the app's properties as they are instead of cloning them: only
   * when the event is built and stringified before `track()` returns (it will not wait for the
   * install id), nothing in the pipeline can write to it (no `custom` redactor, no `beforeSend`,
   * no key the field pass would replace, none of the keys the client sets), and the data is
   * already plain JSON within the property limits. Then the app's object is never modified and
   * changing it after the call cannot change the event.
   */
  private readsInPlace(fillAnonId: boolean, properties: object): 'no' | 'plain' | 'clean' {
    if (this.redactedFields === undefined || fillAnonId) return 'no';
    if (
      this.waiting !== null &&
      (this.waiting.length > 0 || (this.identified ?? this.installId) === undefined)
    )
      return 'no';
    return checkPlainJsonData(
      properties as Record<string, unknown>,
      this.o.propertyLimits,
      this.redactedFields,
      ENRICHED_KEYS,
      this.cleanString,
      this.o.maxEventBytes,
    );
  }

  identify(distinctId: string, traits?: Record<string, unknown>): void {
    try {
      // Not an option: the warning names identify's argument, not `distinctId`.
      const problem = distinctIdProblem(distinctId);
      if (problem !== undefined) return this.logger.warn(`identify ignored: its id ${problem}`);
      const id = distinctId.trim();
      this.identityChosen = true;
      const previous = this.identified ?? this.installId;
      if (id === previous && traits === undefined) return;
      // Only the id events went out under before anyone was identified (the install id, or the
      // `distinctId` option) is linked to the new one: from one identified user to another (a
      // user switch without reset()) PostHog would merge the two people, and Segment would send
      // one user's id as the other's anonymousId.
      const anonymous = this.identified === this.o.distinctId;
      this.identified = id;
      this.keepIdentity(id);
      this.enqueue(
        '$identify',
        traits !== null && typeof traits === 'object' ? { $set: traits } : {},
        anonymous && previous === undefined,
        !anonymous || previous === undefined || previous === id ? undefined : previous,
      );
    } catch (error) {
      this.logger.warn('identify ignored', { error });
    }
  }

  reset(): void {
    try {
      this.identityChosen = true;
      this.identified = this.o.distinctId;
      this.restoredIdentity = undefined;
      this.session.restart();
      this.keepIdentity(undefined);
    } catch (error) {
      this.logger.warn('reset ignored', { error });
    }
  }

  /** Stores the identity for the next runs, off the caller's turn, as consent allows. */
  private keepIdentity(id: string | undefined): void {
    if (this.closing !== undefined) return;
    this.identityKeeper.keep(id, this.consent, this.consentUnread || this.consentUnknown);
  }

  /** The kept identity when its store answers synchronously; else it is read in `start`. */
  private keptIdentityNow(): string | undefined {
    try {
      const kept = this.identityStore.read();
      if (typeof kept === 'string') return kept;
      if (kept instanceof Promise) {
        this.pendingIdentity = kept;
        kept.catch(() => undefined);
      }
    } catch (error) {
      this.logger.warn('could not read the kept identity', { error });
    }
    return undefined;
  }

  register(superProperties: Record<string, unknown>): void {
    try {
      if (!isPropertiesObject(superProperties)) {
        this.logger.warn('register ignored: super properties must be an object');
        return;
      }
      const limits = this.o.propertyLimits;
      const { merged, ignored } = mergeSuperProperties(this.superProperties, superProperties, limits);
      if (ignored.length > 0) this.logger.warn(ignoredSuperPropertiesWarning(ignored, limits.maxProperties));
      this.superProperties = merged;
      this.builder.setSuperProperties(merged);
    } catch (error) {
      this.logger.warn('register ignored', { error });
    }
  }

  setConsent(state: ConsentState): void {
    try {
      if (state !== 'granted' && state !== 'denied' && state !== 'pending') {
        this.logger.warn('setConsent ignored: the state must be granted, denied or pending', { state });
        return;
      }
      this.consentChosen = true;
      this.consentUnread = false;
      this.consentUnknown = false;
      this.applyConsent(state);
      if (this.o.rememberConsent && this.closing === undefined) {
        const write = this.consentStore.write(state);
        this.consentWrite = write.catch((error: unknown) => {
          this.logger.warn('could not remember the consent state', { error });
        });
        this.identityStore.keepConsentCopy?.(state);
        this.consentWatch?.wrote(state, write);
      }
    } catch (error) {
      this.logger.warn('setConsent failed', { error });
    }
  }

  /**
   * Resolves once what was tracked is stored; rejects with the storage's error when it could not
   * be (a full or read-only disk), which `stats().lastError` also names.
   */
  async persist(): Promise<void> {
    await this.ready;
    const queued = this.counts.queued;
    // Events tracked during a clear reach the outbox when it ends (see `DenialClear`).
    await this.denialClear.settled();
    try {
      await this.outbox.persist();
    } catch (error) {
      this.storageError = {
        endpoint: 'outbox',
        reason: `could not store events: ${describe(error)}`,
        atMs: Date.now(),
      };
      throw error;
    }
    if (queued > this.counts.persisted) this.counts.persisted = queued;
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
      this.persist().catch((error: unknown) => this.logger.warn('persist before flush failed', { error })),
      Math.max(0, deadline - monotonicNow()),
    );
    if (this.consent !== 'granted')
      return { sent: 0, pending: await this.pending(deadline - monotonicNow()), timedOut: false };
    return this.delivery.flush(Math.max(0, deadline - monotonicNow()));
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
    return {
      ...this.counts,
      sent: d.sent,
      failedAttempts: d.failedAttempts,
      retried: d.retried,
      dropped: { ...this.dropped },
      queue,
      breakers: d.breakers,
      // Delivery's when there is one, else the storage's (the more recent first).
      lastError:
        d.lastError === null || (this.storageError !== null && this.storageError.atMs > d.lastError.atMs)
          ? (this.storageError ?? d.lastError)
          : d.lastError,
      consent: this.consent,
      enabled: true,
    };
  }

  on<K extends ClientEventName>(name: K, listener: (payload: ClientEventMap[K]) => void): () => void {
    if (typeof listener !== 'function') return () => {};
    return this.emitter.on(name, listener);
  }

  featureHost(): FeatureHost {
    return this.host;
  }

  /** Reads the remembered consent and the install id, then lets waiting events and delivery go. */
  private async start(): Promise<void> {
    let remembered = false;
    if (this.o.rememberConsent) {
      let stored: ConsentState | undefined | typeof UNREAD = UNREAD;
      try {
        stored = await this.consentStore.read();
        if (!this.consentChosen && stored !== undefined) {
          this.applyConsent(stored);
          remembered = true;
          // Installs from before the synchronous copy existed get one (see `installIdAllowedNow`).
          this.identityStore.keepConsentCopy?.(stored);
        }
      } catch (error) {
        // Fail closed: the option's consent (by default 'granted') would send what a denial
        // that could not be read was meant to stop. None stored (a first run) is no error.
        if (!this.consentChosen) {
          this.logger.warn(
            'could not read the remembered consent: events are kept (pending, not sent) until it can be read or setConsent() is called',
            { error },
          );
          this.consentUnknown = true;
          this.applyConsent('pending');
        }
      }
      if (this.closing === undefined) this.consentWatch?.start(stored);
    }
    this.consentUnread = false;
    // An id identify() held until now is written or not, even when shutdown() began meanwhile:
    // it was asked for before. Not while the consent is unknown: it may be a denial.
    if (!this.consentUnknown) this.identityKeeper.consentChanged(this.consent);
    // Starting denied (from the options) clears what an earlier run held, as `setConsent` does.
    if (!remembered && !this.consentChosen && this.consent === 'denied') this.applyConsent('denied');
    if (this.pendingIdentity !== undefined) {
      try {
        const kept = await this.pendingIdentity;
        if (kept !== undefined && !this.identityChosen && this.o.distinctId === undefined) {
          this.restoredIdentity = kept;
          this.identified = kept;
        }
      } catch (error) {
        this.logger.warn('could not read the kept identity', { error });
      }
    }
    // Not while the consent is unknown either: `applyConsent` makes it once it is known to allow it.
    if (this.consentUnknown && this.installId === undefined) {
      this.installIdDeferred = true;
      return;
    }
    // Denied: events are dropped, so no id is needed; one is made if consent is granted later.
    if (this.consent !== 'denied') this.installId ??= await this.loadInstallId();
    this.releaseWaiting();
  }

  /** Builds and appends the events that waited for the install id, and lets delivery go. */
  private releaseWaiting(): void {
    const waiting = this.waiting ?? [];
    this.waiting = null;
    for (const w of waiting) this.append(w);
    if (this.closing === undefined) this.delivery.setPaused(this.consent !== 'granted');
  }

  /** The install id from its store, made there if new; one for this run alone if the store fails. */
  private async loadInstallId(): Promise<string> {
    try {
      return await loadInstallId(this.outbox, this.parts.installId);
    } catch (error) {
      // Events must still flow: this run reports under an id of its own.
      this.logger.warn('could not read or store the install id; using one for this run', { error });
      return uuidv7();
    }
  }

  /**
   * Whether the install id may be read or made at construction: not while consent is denied, by
   * the options or by a denial remembered from an earlier run, as far as it can be read
   * synchronously: Node's file outbox, or the copy a browser keeps in localStorage beside the
   * install id (`keepConsentCopy`). Where neither answers, no id is made here: `start` makes it
   * once the remembered consent is read.
   */
  private installIdAllowedNow(): boolean {
    if (!this.consentUnread) return this.consent !== 'denied';
    try {
      const stored = this.identityStore.rememberedConsentNow?.();
      if (stored === 'granted' || stored === 'denied' || stored === 'pending') return stored !== 'denied';
    } catch (error) {
      // It may be a denial: no id now; `start` makes one if the consent read allows.
      this.logger.debug('could not read the remembered consent now', { error });
      return false;
    }
    return this.consent !== 'denied';
  }

  /**
   * Consent was granted (or set pending) after a start under a denial, or under a consent that
   * could not be read, which made no install id: it is made now, synchronously where its store
   * can; otherwise events wait in memory for it (after those held while the consent was
   * unknown), as they do at start, and flush and shutdown wait for it too.
   */
  private makeInstallIdLater(): void {
    this.installIdDeferred = false;
    this.installId = this.installIdNow();
    if (this.installId !== undefined) return this.releaseWaiting();
    this.waiting ??= [];
    const made = this.loadInstallId().then((id) => {
      this.installId ??= id;
      this.releaseWaiting();
    });
    this.ready = this.ready.then(() => made);
  }

  /**
   * The install id when its store answers synchronously (Node's file, a browser's localStorage);
   * else it is read in `start`. `syncOnly`: start nothing asynchronous (see `installIdAllowedNow`).
   */
  private installIdNow(syncOnly = false): string | undefined {
    try {
      const id = this.parts.installId?.(syncOnly);
      return typeof id === 'string' ? id : undefined;
    } catch (error) {
      this.logger.warn('could not read or store the install id', { error });
      return undefined;
    }
  }

  /**
   * Appends at once when the event's distinct id is known, even before `start` finished:
   * delivery is paused until then, and a remembered 'denied' clears the outbox. Otherwise (and
   * while earlier events wait, to keep their order) the event waits in memory.
   */
  private accept(w: Waiting): void {
    const known =
      (w.distinctId ?? this.installId) !== undefined &&
      !(w.fillAnonId === true && this.installId === undefined) &&
      // A kept identity still being read may be who this event is about.
      !(w.distinctId === undefined && this.pendingIdentity !== undefined);
    // While consent is unread, a 'denied' event waits for the remembered state (see consentUnread).
    if (this.waiting === null || (known && this.waiting.length === 0 && this.consent !== 'denied'))
      return this.append(w);
    if (this.waiting.length >= MAX_WAITING_EVENTS)
      return this.drop('overflow', 1, 'waiting for the install id');
    const waiting =
      w.tracked.inPlace === true ? { ...w, tracked: detached(w.tracked, this.o.propertyLimits) } : w;
    waiting.supers = this.builder.superState;
    this.waiting.push(waiting);
  }

  private append(w: Waiting): void {
    try {
      if (this.consent === 'denied') return this.drop('consent', 1);
      if (w.fillAnonId === true) w.tracked.anonDistinctId = this.installId;
      const known = w.distinctId ?? this.restoredIdentity;
      const result = this.builder.build(w.tracked, known ?? this.installId!, known === undefined, w.supers);
      if (!result.ok) return this.drop(result.reason, 1, result.detail);
      if (this.denialClear.holding) {
        if (!this.denialClear.hold(result.record)) return;
      } else {
        this.outbox.append([result.record]);
        // Tracked by an app's own `exit` listener, after ours wrote what was in memory: nothing
        // asynchronous runs any more, so this one is written now, for the next run to send.
        if (this.exitedNow) this.outbox.persistOnExit?.();
        else this.delivery.notify(1, result.record.json.length);
      }
      this.counts.queued++;
      this.scheduleConfirm();
    } catch (error) {
      // Events that waited for the install id are built in `start`, off the app's turn: a
      // throwing `beforeSend` or clock must cost that event only, not reject `start`.
      this.drop('invalid', 1, describe(error));
    }
  }

  private applyConsent(state: ConsentState): void {
    this.consent = state;
    // `start` makes the id itself once the remembered consent is read (`waiting` is null after),
    // unless it was unknown then (`installIdDeferred`).
    if (
      state !== 'denied' &&
      this.installId === undefined &&
      (this.waiting === null || this.installIdDeferred) &&
      this.closing === undefined
    )
      this.makeInstallIdLater();
    // While `start` reads the remembered consent, the keeper is told there, once it is read.
    if (this.closing === undefined && !this.consentUnread && !this.consentUnknown)
      this.identityKeeper.consentChanged(state);
    if (state === 'denied') {
      if (this.waiting !== null && this.waiting.length > 0) {
        this.drop('consent', this.waiting.length);
        this.waiting = [];
      }
      this.denialClear.start();
    }
    if (this.closing === undefined) this.delivery.setPaused(state !== 'granted' || this.waiting !== null);
  }

  /**
   * Another process or tab sharing the storage set consent last: this install follows it. Also
   * the first read that works after the remembered consent could not be read at start
   * (`state` undefined: none is stored after all, so the option's consent applies).
   */
  private consentFromElsewhere(read: ConsentState | undefined): void {
    if (this.closing !== undefined) return;
    if (this.consentUnknown) {
      this.consentUnknown = false;
      this.logger.warn('the remembered consent could be read again', { consent: read ?? null });
      if (read === undefined) {
        this.applyConsent(this.o.consent);
        return;
      }
      // The same state ('pending'): what identify() held while the consent was unknown is
      // written now, and the install id made.
      if (read === this.consent) this.applyConsent(read);
    }
    if (read === undefined) return;
    const state = read;
    // The copy follows the stored state: two tabs setting consent at once may have written it in
    // the other order (see `installIdAllowedNow`).
    this.identityStore.keepConsentCopy?.(state);
    if (state === this.consent) return;
    this.consentChosen = true;
    this.applyConsent(state);
  }

  private drop(reason: ClientDropReason, count: number, detail?: string): void {
    if (count <= 0) return;
    this.dropped[reason] += count;
    this.logger.debug('events dropped', { reason, count, detail });
    this.emitter.emit('drop', detail === undefined ? { reason, count } : { reason, count, detail });
  }

  /** Keeps `stats().persisted` honest in a long-running process without a write per event. */
  private scheduleConfirm(): void {
    if (this.confirmTimer !== undefined || this.closing !== undefined) return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = undefined;
      this.persist().catch((error: unknown) => this.logger.debug('background persist failed', { error }));
    }, CONFIRM_INTERVAL_MS);
    (this.confirmTimer as { unref?: () => void }).unref?.();
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
    if (this.confirmTimer !== undefined) clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
    this.consentWatch?.stop();
    await settledWithin(this.ready, timeoutMs);
    // Held while the remembered consent could not be read, and it still cannot (it may be a
    // denial): no install id to store them under, so they end with the process.
    if (this.installIdDeferred && this.waiting !== null && this.waiting.length > 0) {
      this.drop('unsaved', this.waiting.length, 'the remembered consent could not be read');
      this.waiting = [];
    }
    // Waited for within the budget only; the write goes on, and nothing tracked is lost when it
    // outlasts the budget: a storage we opened writes what it still holds in `close()` below
    // (which so ends after the budget when the write does), and one the app passed keeps the
    // exit hook that writes it synchronously until the write is done (or the app closes it).
    const persisted = this.persist().catch((error: unknown) =>
      this.logger.warn('persist at shutdown failed', { error }),
    );
    await settledWithin(persisted, Math.max(0, deadline - monotonicNow()));
    await settledWithin(this.consentWrite, Math.max(0, deadline - monotonicNow()));
    try {
      this.delivery.setPaused(this.consent !== 'granted' || this.waiting !== null);
      await this.delivery.shutdown(Math.max(0, deadline - monotonicNow()));
    } catch (error) {
      this.logger.warn('delivery shutdown failed', { error });
    }
    // A clear that outlasted the budget: what it held goes in before the storage closes.
    this.denialClear.release();
    if (this.parts.ownsOutbox) {
      await this.outbox
        .close()
        .catch((error: unknown) => this.logger.warn('closing the storage failed', { error }));
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

/** What `Telemetry.redactedFields` holds, from the same options `buildRedactor` reads. */
function fieldsRedactedBy(o: ResolvedTelemetryOptions): ReadonlySet<string> | null | undefined {
  if (o.beforeSend !== undefined) return undefined;
  if (o.redaction === false) return null;
  if (o.redaction.custom !== undefined) return undefined;
  if (o.redaction.fields === false) return null;
  return compileFieldSet(o.redaction.fields ?? DEFAULT_REDACTED_FIELDS);
}

/**
 * Where flush and shutdown budgets are measured: not the `now` option (event times) nor the wall
 * clock, which, stepped back while a flush waited, handed delivery an hour of a 2 s budget.
 */
const monotonicNow = monotonicClock();

/** How long `stats()` waits for the storage's answer about the queue (then `queue` is null). */
const STATS_QUEUE_WAIT_MS = 2_000;

function isPropertiesObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An event read in place that is going to wait after all (a remembered consent or a kept
 * identity still being read): its own copy of the properties, read like any other. The app
 * may change or reuse its object once `track()` returns, and the in-place reading let only
 * the pattern pass run on it, on the strength of a walk of what the object held then.
 */
function detached(tracked: TrackedEvent, limits: SafeLimits): TrackedEvent {
  const { value } = safeClone(tracked.properties, limits);
  return {
    ...tracked,
    properties: isPropertiesObject(value) ? value : {},
    inPlace: false,
    clean: false,
  };
}
