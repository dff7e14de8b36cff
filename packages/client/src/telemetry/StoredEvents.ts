import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { DenialClear } from './DenialClear.js';
import { describe } from './EventBuilder.js';

/** How often appended events are confirmed stored for `stats().persisted`, at most. */
const CONFIRM_INTERVAL_MS = 1_000;

/**
 * Confirms that what was tracked is stored (`counts.persisted` catches up with `counts.queued`):
 * on `persist()`, and in a long-running process in the background, at most every
 * `CONFIRM_INTERVAL_MS`; the last failure to store is kept for `stats().lastError`.
 */
export class StoredEvents {
  /** The last failure to store events (a full or read-only disk), for `stats().lastError`. */
  error: { endpoint: string; reason: string; atMs: number } | null = null;
  private confirmTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly denialClear: DenialClear,
    private readonly counts: { readonly queued: number; persisted: number },
    private readonly logger: Logger,
    /** The client's start (and an install id made later): what was tracked before waits for it. */
    private readonly ready: () => Promise<void>,
  ) {}

  /**
   * Resolves once what was tracked is stored; rejects with the storage's error when it could not
   * be (a full or read-only disk), which `stats().lastError` also names.
   */
  async persist(): Promise<void> {
    await this.ready();
    const queued = this.counts.queued;
    // Events tracked during a clear reach the outbox when it ends (see `DenialClear`).
    await this.denialClear.settled();
    try {
      await this.outbox.persist();
    } catch (error) {
      this.error = {
        endpoint: 'outbox',
        reason: `could not store events: ${describe(error)}`,
        atMs: Date.now(),
      };
      throw error;
    }
    if (queued > this.counts.persisted) this.counts.persisted = queued;
  }

  /**
   * Keeps `stats().persisted` honest in a long-running process without a write per event.
   * Not once the client is closing (the caller checks).
   */
  scheduleConfirm(): void {
    if (this.confirmTimer !== undefined) return;
    this.confirmTimer = setTimeout(() => {
      this.confirmTimer = undefined;
      this.persist().catch((error: unknown) => this.logger.debug('background persist failed', { error }));
    }, CONFIRM_INTERVAL_MS);
    (this.confirmTimer as { unref?: () => void }).unref?.();
  }

  /** At shutdown: no background confirmation any more. */
  stopConfirming(): void {
    if (this.confirmTimer !== undefined) clearTimeout(this.confirmTimer);
    this.confirmTimer = undefined;
  }
}
