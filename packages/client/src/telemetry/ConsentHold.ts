import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { ConsentState } from './options.js';

/**
 * The outbox state key saying the client that writes the outbox holds its events because its
 * consent is `'pending'`, whatever made it so: the `consent` option (which is not remembered),
 * `setConsent('pending')`, or a remembered consent it cannot read. Tools that send from the
 * outbox (`homing flush`) read it: the remembered consent alone said nothing of a consent
 * option, and they sent what the app was holding for its user's answer.
 */
export const CONSENT_HOLD_STATE_KEY = 'consent-hold';

/** What the key holds while events are held. */
export interface ConsentHoldValue {
  readonly state: 'pending';
  /** When this client began to hold them (Unix ms). */
  readonly sinceMs: number;
}

/** The saved value as written, or null when it is none (or not one). */
export function parseConsentHold(value: unknown): ConsentHoldValue | null {
  if (value === null || typeof value !== 'object') return null;
  const v = value as Partial<Record<keyof ConsentHoldValue, unknown>>;
  return v.state === 'pending' && typeof v.sinceMs === 'number' && Number.isFinite(v.sinceMs)
    ? { state: 'pending', sinceMs: v.sinceMs }
    : null;
}

/**
 * Keeps CONSENT_HOLD_STATE_KEY in the outbox in step with the client's consent: set while it is
 * pending, removed once it is granted or denied (a denial clears what was held). Written only
 * when that changes, off the caller's turn; a failed write is logged, never thrown.
 */
export class ConsentHold {
  private written: 'pending' | 'none' | undefined;
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly outbox: Outbox,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {}

  note(state: ConsentState): void {
    const next = state === 'pending' ? 'pending' : 'none';
    if (next === this.written) return;
    this.written = next;
    const value: ConsentHoldValue | undefined =
      next === 'pending' ? { state: 'pending', sinceMs: this.now() } : undefined;
    // In order: a grant right after a pending must not be overtaken by the pending's write.
    this.tail = this.tail
      .then(() => this.outbox.setState(CONSENT_HOLD_STATE_KEY, value))
      .catch((error: unknown) => {
        // Written again at the next change; `homing flush` may meanwhile read an older value.
        this.written = undefined;
        this.logger.debug('saving whether events are held for consent failed', { error });
      });
  }

  /** Resolves once what was noted is written (or failed). */
  get settled(): Promise<void> {
    return this.tail;
  }
}
