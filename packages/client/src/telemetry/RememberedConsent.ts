import type { Logger } from '../logger.js';
import { ConsentWatch, UNREAD } from './ConsentWatch.js';
import type { ConsentStore } from './consentStore.js';
import { CONSENT_STATE_KEY } from './consentStateKey.js';
import type { IdentityStore } from './identityStore.js';
import type { ConsentState } from './options.js';

export interface RememberedConsentHooks {
  readonly logger: Logger;
  /** The client takes `state` as its consent (it sets `RememberedConsent.state`). */
  readonly apply: (state: ConsentState) => void;
  /** `shutdown()` began. */
  readonly closing: () => boolean;
  /** `shutdown()` is closing (or closed) the storage: nothing can be written to it any more. */
  readonly storageClosed: () => boolean;
}

/**
 * The client's consent, and the consent remembered across runs (`rememberConsent`): read once at
 * start, where a 'denied' from the options may yet give way to a remembered 'granted'; failing
 * closed (pending) when it is there but cannot be read; set by `setConsent` and remembered; and
 * followed when another process or tab sharing the storage sets it.
 */
export class RememberedConsent {
  /** The consent applied now (set through `hooks.apply`). */
  state: ConsentState;
  /** `setConsent()` was called, or another process set it: a remembered one read later must not override it. */
  chosen = false;
  /**
   * The remembered consent is still being read: until then a 'denied' from the options may yet
   * give way to a remembered 'granted', so events wait in memory instead of being dropped.
   */
  unread: boolean;
  /**
   * The remembered consent is there but could not be read (an I/O error, a damaged file): it may
   * be a denial, so the client holds events (pending) instead of taking the option's consent,
   * and keeps reading it (`watch`) until it can, or the app sets consent.
   */
  unknown = false;
  /** Why it is `unknown`, for `stats().lastError` (an app sees no send and no queue otherwise). */
  private unreadableAt: { endpoint: string; reason: string; atMs: number } | null = null;

  /** The failure to read the remembered consent, while events are held for it; else null. */
  get unreadableError(): { endpoint: string; reason: string; atMs: number } | null {
    return this.unknown ? this.unreadableAt : null;
  }
  /** The consent applied was read from the storage at start (see `writeAgain`). */
  private remembered = false;
  /** The latest `setConsent` write: shutdown waits for it (within its budget), as for events. */
  private write: Promise<unknown> = Promise.resolve();
  /** Follows consent set by other processes or tabs on the same storage (when it is remembered). */
  private readonly watch: ConsentWatch | null;

  constructor(
    private readonly options: { readonly consent: ConsentState; readonly rememberConsent: boolean },
    private readonly store: ConsentStore,
    private readonly identityStore: IdentityStore,
    private readonly hooks: RememberedConsentHooks,
  ) {
    this.state = options.consent;
    this.unread = options.rememberConsent;
    this.watch = options.rememberConsent
      ? new ConsentWatch(
          {
            read: () => this.store.read(),
            // A write retried after ours failed: shutdown waits for it, as for `setConsent`'s.
            write: (state) => {
              const write = this.store.write(state);
              this.write = write.catch(() => undefined);
              return write;
            },
          },
          CONSENT_STATE_KEY,
          (state) => this.fromElsewhere(state),
          hooks.logger,
        )
      : null;
  }

  /** The remembered consent is not known yet (still being read, or unreadable). */
  get undecided(): boolean {
    return this.unread || this.unknown;
  }

  /** The latest write of the consent (never rejects): shutdown waits for it. */
  get written(): Promise<unknown> {
    return this.write;
  }

  /**
   * The storage lost what it remembered (its directory deleted while the app ran, made again): a
   * grant that was remembered (set, or read at start) is written back, so the next run is not
   * back to 'pending' while the install id is on disk again. A denial writes nothing here:
   * nothing of the user's goes on disk under one; the denial itself is stored again by the watch
   * (`ConsentWatch`), which finds it gone whether or not anything made the directory again.
   */
  writeAgain(): Promise<void> {
    if (!this.grantToWriteAgain()) return Promise.resolve();
    const write = this.store.write('granted').catch((error: unknown) => {
      this.hooks.logger.warn('could not remember the consent state again', { error });
    });
    this.write = write;
    this.identityStore.keepConsentCopy?.('granted');
    return write;
  }

  /**
   * `writeAgain`, done in this call where the store writes synchronously (the file beside the
   * outbox: the directory may have been made again in the turn the process ends in, where a
   * later write never runs). False where the store cannot: `writeAgain` then.
   */
  writeAgainNow(): boolean {
    if (!this.grantToWriteAgain()) return true;
    if (this.store.writeNow === undefined) return false;
    try {
      this.store.writeNow('granted');
    } catch (error) {
      this.hooks.logger.warn('could not remember the consent state again', { error });
    }
    this.identityStore.keepConsentCopy?.('granted');
    return true;
  }

  private grantToWriteAgain(): boolean {
    if (!this.options.rememberConsent || this.state !== 'granted' || this.unknown) return false;
    return this.chosen || this.remembered;
  }

  /** `setConsent(state)`: applied, and remembered when `rememberConsent` is set. */
  set(state: ConsentState): void {
    this.chosen = true;
    this.unread = false;
    this.unknown = false;
    this.hooks.apply(state);
    if (this.options.rememberConsent && this.hooks.storageClosed()) {
      // A privacy choice that silently did not last: the next run started granted, and sent.
      this.hooks.logger.warn(
        `setConsent('${state}') after shutdown() is not remembered for the next runs (the client's storage is closed): call it before shutdown(), or on the next run's client`,
      );
      return;
    }
    // While shutdown() flushes (a SIGTERM drain), the storage is still open: written, and
    // shutdown waits for it before it closes the storage.
    if (this.options.rememberConsent) {
      const write = this.store.write(state);
      this.write = write.catch((error: unknown) => {
        this.hooks.logger.warn('could not remember the consent state', { error });
      });
      this.identityStore.keepConsentCopy?.(state);
      this.watch?.wrote(state, write);
    }
  }

  /**
   * Reads the remembered consent at start (call only with `rememberConsent`), applies it unless
   * consent was chosen meanwhile, and starts watching it; after it, the consent is no longer
   * unread. True when a remembered consent was applied.
   */
  async readAtStart(): Promise<boolean> {
    let remembered = false;
    let stored: ConsentState | undefined | typeof UNREAD = UNREAD;
    try {
      stored = await this.store.read();
      if (!this.chosen && stored !== undefined) {
        this.hooks.apply(stored);
        remembered = true;
        this.remembered = true;
        // Installs from before the synchronous copy existed get one (see `installIdAllowedNow`).
        this.identityStore.keepConsentCopy?.(stored);
      }
    } catch (error) {
      // Fail closed: the option's consent (by default 'granted') would send what a denial
      // that could not be read was meant to stop. None stored (a first run) is no error.
      if (!this.chosen) {
        this.hooks.logger.warn(
          'could not read the remembered consent: events are kept (pending, not sent) until it can be read or setConsent() is called',
          { error },
        );
        this.unknown = true;
        this.unreadableAt = {
          endpoint: 'consent',
          reason: `could not read the remembered consent: events are held (pending) until it can be read or setConsent() is called: ${error instanceof Error ? error.message : String(error)}`,
          atMs: Date.now(),
        };
        this.hooks.apply('pending');
      }
    }
    if (!this.hooks.closing()) this.watch?.start(stored);
    this.unread = false;
    return remembered;
  }

  /** Stops following the consent set elsewhere (shutdown). */
  stopWatching(): void {
    this.watch?.stop();
  }

  /**
   * Whether the install id may be read or made at construction: not while consent is denied, by
   * the options or by a denial remembered from an earlier run, as far as it can be read
   * synchronously: Node's file outbox, or the copy a browser keeps in localStorage beside the
   * install id (`keepConsentCopy`). Where neither answers, no id is made here: `start` makes it
   * once the remembered consent is read.
   */
  installIdAllowedNow(): boolean {
    if (!this.unread) return this.state !== 'denied';
    try {
      const stored = this.identityStore.rememberedConsentNow?.();
      if (stored === 'granted' || stored === 'denied' || stored === 'pending') return stored !== 'denied';
    } catch (error) {
      // It may be a denial: no id now; `start` makes one if the consent read allows.
      this.hooks.logger.debug('could not read the remembered consent now', { error });
      return false;
    }
    return this.state !== 'denied';
  }

  /**
   * Another process or tab sharing the storage set consent last: this install follows it. Also
   * the first read that works after the remembered consent could not be read at start
   * (`state` undefined: none is stored after all, so the option's consent applies).
   */
  private fromElsewhere(read: ConsentState | undefined): void {
    if (this.hooks.closing()) return;
    if (this.unknown) {
      this.unknown = false;
      this.hooks.logger.warn('the remembered consent could be read again', { consent: read ?? null });
      if (read === undefined) {
        this.hooks.apply(this.options.consent);
        return;
      }
      // The same state ('pending'): what identify() held while the consent was unknown is
      // written now, and the install id made.
      if (read === this.state) this.hooks.apply(read);
    }
    if (read === undefined) return;
    const state = read;
    // The copy follows the stored state: two tabs setting consent at once may have written it in
    // the other order (see `installIdAllowedNow`).
    this.identityStore.keepConsentCopy?.(state);
    if (state === this.state) return;
    this.chosen = true;
    this.hooks.apply(state);
  }
}
