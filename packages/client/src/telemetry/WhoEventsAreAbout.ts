import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import { uuidv7 } from '../pipeline/uuidv7.js';
import { IdentityKeeper } from './IdentityKeeper.js';
import { IDENTITY_STATE_KEY, type IdentityStore } from './identityStore.js';
import type { InstallIdStore } from './installId.js';
import { INSTALL_ID_STATE_KEY, isInstallId, loadInstallId } from './installId.js';

/**
 * Who events are about: the id from `identify()` (or the `distinctId` option, or the identity
 * kept from an earlier run), else the install id, read or made in its store. When the install
 * id may be made (consent) is decided by the client; this holds the ids and reads them.
 */
export class WhoEventsAreAbout {
  identified: string | undefined;
  installId: string | undefined;
  /** The kept identity, when its store answers asynchronously (read in `start`). */
  pendingIdentity: Promise<string | undefined> | undefined;
  /** `identify()` or `reset()` was called: a kept identity read later must not override it. */
  identityChosen = false;
  /** The kept identity restored in `start`, for the events that waited for it. */
  restoredIdentity: string | undefined;
  /**
   * `start` made no install id because the consent was unknown (it may be a denial, and the id
   * would stay on the device): events wait in memory until it is known, then it is made if allowed.
   */
  installIdDeferred = false;
  /** Keeps `identify()`'s id for the next runs, as consent allows. */
  readonly keeper: IdentityKeeper;
  /** The install id made for this run alone, its store having failed: no later run knows it yet. */
  private runOnlyInstallId: string | undefined;
  /** The install id in use is not stored because consent did not allow it: stored at a grant. */
  private storeOnGrant = false;
  /**
   * That id was made by a `reset()` under a denial: at the grant it replaces whatever is stored
   * (the id it retired, which another process may have stored back first), not adopts it.
   */
  private ownIdWins = false;
  /** Counts denials: a grant's store that finds a later denial when its answer comes does nothing. */
  private denials = 0;

  constructor(
    /** The `distinctId` option. */
    private readonly distinctId: string | undefined,
    private readonly identityStore: IdentityStore,
    private readonly installIdStore: InstallIdStore | undefined,
    private readonly outbox: Outbox,
    private readonly logger: Logger,
  ) {
    this.identified = distinctId;
    this.keeper = new IdentityKeeper(identityStore, logger);
    if (this.identified === undefined) this.identified = this.keptIdentityNow();
  }

  /**
   * `reset()`: back to the `distinctId` option (or the install id), and nothing restored. After
   * someone was identified, the install id is theirs now: PostHog merged it into their person at
   * the `$identify` (`$anon_distinct_id`), Segment linked it as their `anonymousId`, so anonymous
   * events after a logout, and the next user's `$identify`, were counted as the user who left, and
   * the next user merged into them. Later events get a new install id, stored in place of the old
   * one (`mayStore`: consent allows keeping an identifier on the device; otherwise the old one is
   * only removed, and the next run makes another), as posthog-js's `reset()` does. Not when the
   * install id is not known yet (events wait for it, and those tracked before the reset must
   * keep the old one), nor for the `distinctId` option, which is the app's own.
   */
  reset(mayStore: boolean): void {
    const someoneWasIdentified = this.identified !== undefined && this.identified !== this.distinctId;
    this.identityChosen = true;
    this.identified = this.distinctId;
    this.restoredIdentity = undefined;
    if (!someoneWasIdentified || this.distinctId !== undefined || this.installId === undefined) return;
    const id = uuidv7();
    this.installId = id;
    this.runOnlyInstallId = undefined;
    this.storeOnGrant = !mayStore;
    this.ownIdWins = !mayStore;
    this.replaceStoredInstallId(
      mayStore ? id : undefined,
      'could not store the new install id after reset(); the next run may use the old one',
    );
  }

  /**
   * A denial: no identifier stays on the device, so the install id is removed from its store (and
   * the copies an earlier version kept in the outbox state, which a run without an install-id
   * file takes over); this run keeps using it in memory (as it does the identified user) and
   * stores it again if consent is granted in it (`storeAfterGrant`), else a later run makes a new
   * one. Kept on the device, it outlived the identity the denial removes: PostHog had merged it
   * into the identified user's person, and the next user's `identify()` in a later run merged
   * them into the one before.
   */
  removeStoredInstallId(): void {
    this.denials++;
    if (this.installId !== undefined) this.storeOnGrant = true;
    this.replaceStoredInstallId(undefined, 'could not remove the install id after a denial');
    if (this.installIdStore !== undefined) {
      const failed = (error: unknown): void =>
        this.logger.warn('could not remove the ids kept in the outbox state after a denial', { error });
      for (const key of [INSTALL_ID_STATE_KEY, IDENTITY_STATE_KEY]) {
        try {
          this.outbox.setState(key, undefined).catch(failed);
        } catch (error) {
          failed(error);
        }
      }
    }
  }

  /**
   * Consent allows keeping an identifier again: the install id this run uses is stored, if a
   * denial (or a reset under one) kept it from it, unless one is stored by now, which then wins
   * for the events built from here on: another process granted first, or retired this one by a
   * `reset()` (its id is merged into the user who left), and must not be overwritten.
   */
  storeAfterGrant(): void {
    const own = this.installId;
    if (!this.storeOnGrant || own === undefined) return;
    this.storeOnGrant = false;
    const denials = this.denials;
    if (this.ownIdWins) {
      this.ownIdWins = false;
      this.replaceStoredInstallId(own, 'could not store the install id after consent was granted');
      return;
    }
    const adopt = (stored: unknown): void => {
      // A denial since: nothing of this grant's answer is kept, nor stored (see below).
      if (this.denials !== denials) return;
      if (isInstallId(stored) && this.installId === own) this.installId = stored;
    };
    const failed = (error: unknown): void => {
      if (this.denials === denials) this.storeOnGrant = true;
      this.logger.warn('could not store the install id after consent was granted', { error });
    };
    try {
      if (this.installIdStore !== undefined) {
        const stored = this.installIdStore(false, own);
        if (stored instanceof Promise) stored.then(adopt, failed);
        else adopt(stored);
        return;
      }
      const outbox = this.outbox;
      outbox
        .getState<unknown>(INSTALL_ID_STATE_KEY)
        .then(async (stored) => {
          if (isInstallId(stored)) return adopt(stored);
          // A denial while the state was read: storing now would keep an id on the device under it.
          if (this.denials === denials) await outbox.setState(INSTALL_ID_STATE_KEY, own);
        })
        .catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** Stores `kept` as the install id, or removes it (undefined); a failure is warned about. */
  private replaceStoredInstallId(kept: string | undefined, failure: string): void {
    const failed = (error: unknown): void => this.logger.warn(failure, { error });
    try {
      const written =
        this.installIdStore !== undefined
          ? this.installIdStore.replace?.(kept)
          : this.outbox.setState(INSTALL_ID_STATE_KEY, kept);
      if (written instanceof Promise) written.catch(failed);
    } catch (error) {
      failed(error);
    }
  }

  /** In `start`: the kept identity read asynchronously, unless `identify()` or `reset()` came first. */
  async restoreKept(): Promise<void> {
    try {
      const kept = await this.pendingIdentity;
      if (kept !== undefined && !this.identityChosen && this.distinctId === undefined) {
        this.restoredIdentity = kept;
        this.identified = kept;
      }
    } catch (error) {
      this.logger.warn('could not read the kept identity', { error });
    }
  }

  /** The install id from its store, made there if new; one for this run alone if the store fails. */
  async loadInstallId(): Promise<string> {
    try {
      return await loadInstallId(this.outbox, this.installIdStore);
    } catch (error) {
      // Events must still flow: this run reports under an id of its own.
      this.logger.warn('could not read or store the install id; using one for this run', { error });
      this.runOnlyInstallId = uuidv7();
      return this.runOnlyInstallId;
    }
  }

  /**
   * The storage can be written again (the outbox stores again): the install id made for this run
   * alone is stored, so that the next runs report as the same install, unless one is stored by
   * now (another process made it), which then wins for the events built from here on; those
   * built already keep this run's.
   */
  async storeRunOnlyInstallId(): Promise<void> {
    const made = this.runOnlyInstallId;
    if (made === undefined || this.installId !== made || this.installIdStore === undefined) return;
    this.runOnlyInstallId = undefined;
    try {
      const stored = await this.installIdStore(false, made);
      if (isInstallId(stored) && this.installId === made) this.installId = stored;
    } catch (error) {
      this.logger.warn('could not store the install id; the next run makes another', { error });
    }
  }

  /**
   * The outbox's directory lost the files kept beside the queue (deleted while the app ran) or
   * never got them (no file descriptor free at start), and takes writes now: the install id in
   * use is stored again, unless one is stored by now (another process made it), which then wins
   * for the events built from here on, as for a run-only id (`storeRunOnlyInstallId`). Before, the
   * next run found none and was a new anonymous user. Not an id kept off the device on purpose
   * (a denial, a `reset()` under one: stored at a grant).
   */
  async storeInstallIdAgain(): Promise<void> {
    const own = this.installId;
    if (own === undefined || this.installIdStore === undefined || this.storeOnGrant) return;
    this.runOnlyInstallId = undefined;
    const denials = this.denials;
    try {
      const stored = await this.installIdStore(false, own);
      if (isInstallId(stored) && this.installId === own && this.denials === denials) this.installId = stored;
    } catch (error) {
      this.logger.warn('could not store the install id again; the next run may make another', { error });
    }
  }

  /**
   * The install id when its store answers synchronously (Node's file, a browser's localStorage);
   * else it is read in `start`. `syncOnly`: start nothing asynchronous (see `RememberedConsent.installIdAllowedNow`).
   */
  installIdNow(syncOnly = false): string | undefined {
    try {
      const id = this.installIdStore?.(syncOnly);
      return typeof id === 'string' ? id : undefined;
    } catch (error) {
      this.logger.warn('could not read or store the install id', { error });
      return undefined;
    }
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
}
