import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
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
 */
export class ConsentWatch {
  private timer: ReturnType<typeof setInterval> | undefined;
  /**
   * Tells the other watchers of this browser (its tabs) or process (its threads) at once that
   * consent was stored, so they read it now rather than at their next look: a tab delivering
   * for all went on sending, for up to the interval, what another tab had just held or denied.
   * Only a hint to read; what counts is what the storage holds.
   */
  private channel: BroadcastChannel | undefined;
  private known: ConsentState | undefined;
  private writes = 0;
  /** Bumped by every write of ours: a read that saw it change is stale. */
  private generation = 0;
  private checking = false;

  constructor(
    private readonly outbox: Outbox,
    private readonly key: string,
    private readonly onChange: (state: ConsentState) => void,
    private readonly logger: Logger,
    private readonly intervalMs: number = CONSENT_RECHECK_MS,
  ) {}

  /** Starts watching; `known` is what the store held when the client read it (if anything). */
  start(known: unknown): void {
    if (isConsentState(known)) this.known = known;
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
    this.generation++;
    void write
      .finally(() => this.writes--)
      .then(() => this.channel?.postMessage(this.key))
      .catch(() => undefined);
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
      const stored = await this.outbox.getState<unknown>(this.key);
      if (this.timer === undefined || this.writes > 0 || generation !== this.generation) return;
      if (!isConsentState(stored) || stored === this.known) return;
      this.known = stored;
      this.logger.debug('consent changed by another process sharing the storage', { consent: stored });
      this.onChange(stored);
    } catch (error) {
      this.logger.debug('could not read the remembered consent', { error });
    } finally {
      this.checking = false;
    }
  }
}

function isConsentState(value: unknown): value is ConsentState {
  return value === 'granted' || value === 'denied' || value === 'pending';
}
