import type { Logger } from '../logger.js';
import type { IdentityStore } from './identityStore.js';
import type { ConsentState } from './options.js';

/**
 * Keeps `identify()`'s id for the next runs (and forgets it at `reset()`), as consent allows.
 *
 * While consent is denied nothing about the user is kept: an id given to `identify()` then is
 * used in memory for this run only, and the id kept from before (someone else, or the same
 * user) is forgotten. A denial after `identify()` forgets the kept id too, as `reset()` would
 * for the file only: this run's events still carry the id in memory. Once consent is granted
 * (or pending again, when events are stored too) in this run, this run's id is written again;
 * a later run that starts denied has to `identify()` again. Forgetting (`reset()`) needs no
 * consent and is always written.
 *
 * Until the remembered consent is read (the first moments of a run) consent is not known: the
 * options' 'granted' may yet turn out a remembered 'denied'. An id given then is held as under
 * a denial and written, or not, once the consent is read; at exit, where that read cannot end
 * any more, from the store's own synchronous read of the remembered consent, or not at all.
 */
export class IdentityKeeper {
  /** This run's id from `identify()` (undefined after `reset()`): the one to keep when consent allows. */
  private current: string | undefined;
  /** `current`, while consent is denied or not known yet: not on disk. */
  private held: string | undefined;
  /** Writes issued, and the last one when it failed (see `writeAgain`). */
  private writes = 0;
  private failedWrite: { readonly id: string | undefined } | undefined;
  /** Settles when the last write issued has (shutdown waits for it before the storage closes). */
  written: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: IdentityStore,
    private readonly logger: Logger,
  ) {}

  /** `id` undefined: forget the kept one. `unread`: the remembered consent is not known yet. */
  keep(id: string | undefined, consent: ConsentState, unread: boolean): void {
    this.current = id;
    if (id === undefined) {
      this.held = undefined;
      this.write(undefined);
    } else if (unread) {
      this.held = id;
    } else if (consent === 'denied') {
      this.held = id;
      this.write(undefined);
    } else {
      this.held = undefined;
      this.write(id);
    }
  }

  /**
   * `keep` while shutdown() flushes, when the client no longer follows the consent other
   * processes store: an id is not written under a denial one of them stored since (read now,
   * where the store can read synchronously, as the file beside the outbox can).
   */
  keepWhileClosing(id: string | undefined, consent: ConsentState, unread: boolean): void {
    if (id !== undefined && this.deniedNow(consent)) return this.keep(id, 'denied', false);
    this.keep(id, consent, unread);
  }

  private deniedNow(fallback: ConsentState): boolean {
    try {
      return this.rememberedNow(fallback) === 'denied';
    } catch {
      return false;
    }
  }

  /**
   * The consent is known (read at start) or changed: a denial forgets the kept id; otherwise
   * an id held is written.
   */
  consentChanged(consent: ConsentState): void {
    if (consent === 'denied') {
      this.held = this.current;
      this.write(undefined);
      return;
    }
    if (this.held === undefined) return;
    const id = this.held;
    this.held = undefined;
    this.write(id);
  }

  /**
   * At process exit: an id still held is written (synchronously, by a store that writes so, as
   * the file does) only if consent is known (`unread` false, or the store reads the remembered
   * one now; none remembered: the options' `consent`) and is not denied.
   */
  finishNow(consent: ConsentState, unread: boolean): void {
    if (this.held === undefined) return;
    try {
      const known = unread ? this.rememberedNow(consent) : consent;
      if (known !== undefined) this.consentChanged(known);
    } catch (error) {
      this.logger.warn('could not keep the identity for the next run', { error });
    }
  }

  /** The remembered consent read synchronously; `fallback` when none is; undefined when the store cannot tell. */
  private rememberedNow(fallback: ConsentState): ConsentState | undefined {
    if (this.store.rememberedConsentNow === undefined) return undefined;
    const stored = this.store.rememberedConsentNow();
    return stored === 'granted' || stored === 'denied' || stored === 'pending' ? stored : fallback;
  }

  /**
   * The storage can be written again (the outbox stores again, its directory fixed): the last
   * write, if it failed, is made again. It is the latest choice (a denial or `reset()` after an
   * `identify()` wrote the removal), so making it again undoes nothing chosen since.
   */
  writeAgain(): void {
    const failed = this.failedWrite;
    this.failedWrite = undefined;
    if (failed !== undefined) this.write(failed.id);
  }

  /**
   * The storage lost what it kept (the outbox's directory deleted while the app ran, then made
   * again): this run's id is written there again, as consent allows (not one held: consent
   * denied or not known yet; nor after `reset()`), unless an id is there by now (another process
   * sharing the directory identified since: the last `identify()` wins). Before, only a write
   * that had failed was made again, and the next run was anonymous.
   */
  writeLostAgain(): void {
    const id = this.current;
    if (id === undefined || this.held !== undefined) return;
    let kept: ReturnType<IdentityStore['read']>;
    try {
      kept = this.store.read();
    } catch {
      kept = undefined;
    }
    if (!(kept instanceof Promise)) {
      if (kept === undefined) this.write(id);
      return;
    }
    void kept.then(
      (found) => {
        if (found === undefined && this.current === id && this.held === undefined) this.write(id);
      },
      () => {},
    );
  }

  /** A failure is only logged (the file store writes at once; others may answer later). */
  private write(id: string | undefined): void {
    const write = ++this.writes;
    this.failedWrite = undefined;
    this.written = this.store.write(id).catch((error: unknown) => {
      if (write === this.writes) this.failedWrite = { id };
      this.logger.warn('could not keep the identity for the next run', { error });
    });
  }
}
