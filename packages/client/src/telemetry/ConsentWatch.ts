import type { Logger } from '../logger.js';
import { isConsentState } from './consentStore.js';
import type { ConsentState } from './options.js';

/** How often the remembered consent is read again for changes other processes or tabs made, ms. */
export const CONSENT_RECHECK_MS = 2_000;

/** The BroadcastChannel a watcher names the key it just stored consent under on. */
const CONSENT_CHANNEL = 'homing-consent';

/**
 * Follows the remembered consent that other processes (or tabs) sharing the outbox set: one
 * install has one consent, the last one set. Without it, a long-running process went on sending
 * what a `setConsent('denied')` elsewhere could not clear (only the delivery lock's holder
 * clears what is on disk), and went on tracking. One small state read every `intervalMs`, on an
 * unref'd timer; skipped while this process's own write is in flight, and a read that overlapped
 * one is thrown away, so it never takes the value its own write replaces for someone else's.
 *
 * A change is a stored value other than the one last read (or last written by this process),
 * not merely one other than this process's consent: a write of ours that failed (a read-only
 * directory) leaves the older value there, which is no one's new choice and must not undo the
 * app's `setConsent` a moment later.
 *
 * It is also how the client keeps trying to read a remembered consent that could not be read
 * at start (`start(UNREAD)`): the first value it can read is news, none stored included
 * (`onChange(undefined)`), which it reports only then.
 *
 * And how the consent this process holds is stored again when it vanished from the store (its
 * directory deleted while the app ran): a denial lost so was the next run's 'granted'. A denial
 * or 'pending' only: a grant stored back may be older than another process's denial.
 *
 * And how a choice of this process whose write failed (no file descriptor free, a read-only
 * directory) is written again, at each look, until it lands: else the next run read the older
 * value (a user's denial forgotten). Until then the stored value is not news, even when this
 * process could read nothing before its write (it then holds what the write failed to replace,
 * as far as anyone can tell); a change after a read that came before is still followed.
 */
/** What `start` takes when the client could not read the remembered consent. */
export const UNREAD: unique symbol = Symbol('homing.consentUnread');

export class ConsentWatch {
  private timer: ReturnType<typeof setInterval> | undefined;
  /**
   * Tells the other watchers of this browser (its tabs) or process (its threads) at once that
   * consent was stored, so they read it now rather than at their next look: a tab delivering
   * for all went on sending, for up to the interval, what another tab had just held or denied.
   * Only a hint to read; what counts is what the storage holds.
   */
  private channel: BroadcastChannel | undefined;
  /** This process's consent as the watch knows it: what it read or wrote last. */
  private known: ConsentState | undefined;
  /** What the store held when last read (or written by us); UNREAD until a read worked. */
  private seen: ConsentState | undefined | typeof UNREAD = UNREAD;
  private writes = 0;
  /** Bumped by every write of ours: a read that saw it change is stale. */
  private generation = 0;
  private checking = false;
  /** This process's last choice, when storing it failed: written again at each look. */
  private unstored: ConsentState | undefined;

  /**
   * `store.read`: the remembered consent, undefined when none is stored; rejects when it cannot
   * be read. `store.write`: stores it again after a write of ours failed (see `unstored`).
   * `key` names the store on the channel (only watchers of the same one read on a nudge).
   */
  constructor(
    private readonly store: {
      read(): Promise<ConsentState | undefined>;
      write(state: ConsentState): Promise<unknown>;
    },
    private readonly key: string,
    private readonly onChange: (state: ConsentState | undefined) => void,
    private readonly logger: Logger,
    private readonly intervalMs: number = CONSENT_RECHECK_MS,
  ) {}

  /** Starts watching; `stored` is what the store held when the client read it, or UNREAD. */
  start(stored: ConsentState | undefined | typeof UNREAD): void {
    this.seen = stored;
    // A read that began before this process's `setConsent` (`wrote`) is not its consent: taken
    // for it, a denial chosen at start was stored back as the previous run's grant once the
    // remembered value vanished.
    if (isConsentState(stored) && this.generation === 0) this.known = stored;
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
    if (typeof BroadcastChannel === 'function') {
      try {
        this.channel = new BroadcastChannel(CONSENT_CHANNEL);
        this.channel.onmessage = (message: MessageEvent) => {
          if (message.data === this.key) void this.check();
        };
        // Node: a channel keeps the process alive unless told otherwise.
        (this.channel as { unref?: () => void }).unref?.();
      } catch (error) {
        this.logger.debug('no BroadcastChannel; other tabs are read every interval', { error });
      }
    }
  }

  /** This process is storing `state` (`write` settles when it is stored, or failed). */
  wrote(state: ConsentState, write: Promise<unknown>): void {
    this.known = state;
    this.writes++;
    const generation = ++this.generation;
    this.unstored = undefined;
    void write.then(
      () => {
        // Set with the count, in one turn: a read between the two would take it for news.
        this.seen = state;
        this.writes--;
        this.channel?.postMessage(this.key);
      },
      () => {
        // Not stored: what the store holds is as old as before, and no one's new choice.
        this.writes--;
        // An earlier write failing after a later one: the later one is this process's choice.
        if (generation === this.generation) this.unstored = state;
      },
    );
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.channel?.close();
    this.channel = undefined;
  }

  private async check(): Promise<void> {
    if (this.writes > 0 || this.checking || this.timer === undefined) return;
    this.checking = true;
    const generation = this.generation;
    try {
      let stored: ConsentState | undefined;
      try {
        stored = await this.store.read();
      } catch (error) {
        this.logger.debug('could not read the remembered consent', { error });
        // Written over what cannot be read, as `setConsent` writes over a damaged file.
        if (this.timer !== undefined && this.writes === 0 && generation === this.generation)
          this.storeAgain();
        return;
      }
      if (this.timer === undefined || this.writes > 0 || generation !== this.generation) return;
      if (this.unstored !== undefined) {
        if (this.seen === UNREAD || stored === this.seen) {
          // What our write failed to replace (or, none read before it, the first value read):
          // no one's new choice, which must not undo the app's. Ours goes over it.
          this.seen = stored;
          if (stored === this.unstored) this.unstored = undefined;
          else this.storeAgain();
          return;
        }
        // Changed since it was last read: another process chose after this one; followed below.
        this.unstored = undefined;
      }
      const first = this.seen === UNREAD;
      if (stored === this.seen) return;
      if (stored === undefined && !first && this.known !== undefined && this.known !== 'granted') {
        // What this process holds vanished (its directory deleted while the app ran, the file
        // removed): no one's choice, since nothing stores "none". Stored again; else the next
        // run took the `consent` option, by default 'granted', and sent the events of a user
        // who had opted out. Not a grant: what this process holds may be older than what
        // another process sharing the store chose last, unseen yet (the look is every
        // `intervalMs`); a grant stored back over that denial made every process send again.
        // An older denial or 'pending' stored back costs a grant, never a user's opt-out. (A
        // grant is written back with the install id, `RememberedConsent.writeAgain`, when the
        // outbox makes its directory again.)
        this.seen = undefined;
        this.unstored = this.known;
        this.logger.debug('the remembered consent was deleted; storing it again', { consent: this.known });
        this.storeAgain();
        return;
      }
      this.seen = stored;
      // None stored is news only to a client that could not read the store at all so far.
      if (stored === undefined ? !first : stored === this.known) return;
      this.known = stored;
      this.logger.debug('consent changed by another process sharing the storage', { consent: stored });
      this.onChange(stored);
    } catch (error) {
      this.logger.debug('following the remembered consent failed', { error });
    } finally {
      this.checking = false;
    }
  }

  /** Writes this process's choice again after its write failed; a no-op once it is stored. */
  private storeAgain(): void {
    const state = this.unstored;
    if (state === undefined) return;
    let write: Promise<unknown>;
    try {
      write = this.store.write(state);
    } catch (error) {
      write = Promise.reject(error);
    }
    this.wrote(state, write);
    void write.then(
      () => this.logger.warn('the consent state is remembered now', { consent: state }),
      (error: unknown) => this.logger.debug('could not remember the consent state yet', { error }),
    );
  }
}
