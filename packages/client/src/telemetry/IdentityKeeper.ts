import type { Logger } from '../logger.js';
import type { IdentityStore } from './identityStore.js';
import type { ConsentState } from './options.js';

/**
 * Keeps `identify()`'s id for the next runs (and forgets it at `reset()`), as consent allows.
 *
 * While consent is denied nothing about the user is written: an id given to `identify()` then
 * is used in memory for this run only, and the id kept from before (someone else, or the same
 * user) is forgotten. Once consent is granted (or pending again, when events are stored too) in
 * this run, that id is written then; a later run has to `identify()` again. Forgetting
 * (`reset()`) needs no consent and is always written.
 */
export class IdentityKeeper {
  /** The id `identify()` gave while consent was denied, not yet written. */
  private held: string | undefined;

  constructor(
    private readonly store: IdentityStore,
    private readonly logger: Logger,
  ) {}

  /** `id` undefined: forget the kept one. */
  keep(id: string | undefined, consent: ConsentState): void {
    this.held = id !== undefined && consent === 'denied' ? id : undefined;
    this.write(this.held === undefined ? id : undefined);
  }

  /** Consent changed: an id held while it was denied is written once it no longer is. */
  consentChanged(consent: ConsentState): void {
    if (consent === 'denied' || this.held === undefined) return;
    const id = this.held;
    this.held = undefined;
    this.write(id);
  }

  /** At process exit: the last write not yet done, synchronously (where the store can). */
  finishNow(): void {
    try {
      this.store.finishNow?.();
    } catch (error) {
      this.logger.warn('could not keep the identity for the next run', { error });
    }
  }

  /** Off the caller's turn; a failure is only logged. */
  private write(id: string | undefined): void {
    this.store.write(id).catch((error: unknown) => {
      this.logger.warn('could not keep the identity for the next run', { error });
    });
  }
}
