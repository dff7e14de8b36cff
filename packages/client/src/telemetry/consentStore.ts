import type { Outbox } from '../outbox/outbox.js';
import { CONSENT_STATE_KEY } from './consentStateKey.js';
import { ConsentUnreadableError } from './errors.js';
import type { ConsentState } from './options.js';

/**
 * Where the consent `setConsent` chose is remembered (`rememberConsent`). Reading tells three
 * cases apart, because they call for opposite answers: none stored (a first run: the `consent`
 * option applies), a state, or something stored that cannot be read (an I/O error, a damaged
 * value). The last may be a denial: the client must not then fall back to the option's
 * 'granted' (it holds events, pending, until the read works).
 */
export interface ConsentStore {
  /** The remembered state; undefined when none is stored; rejects (`ConsentUnreadableError`) when it cannot be read. */
  read(): Promise<ConsentState | undefined>;
  /** Remembers `state`; rejects when it could not be stored. */
  write(state: ConsentState): Promise<void>;
  /** `write`, synchronously, where the store can (the file beside the outbox); throws when it could not. */
  writeNow?(state: ConsentState): void;
}

export function isConsentState(value: unknown): value is ConsentState {
  return value === 'granted' || value === 'denied' || value === 'pending';
}

/**
 * The consent in the outbox state (memory, IndexedDB, localStorage or an app's own outbox). A
 * value that is there but no consent state is unreadable, not absent; null is taken for absent,
 * as an outbox of the app's own may answer it for a missing key.
 */
export function outboxConsentStore(outbox: Outbox): ConsentStore {
  return {
    async read() {
      let stored: unknown;
      try {
        stored = await outbox.getState<unknown>(CONSENT_STATE_KEY);
      } catch (error) {
        throw new ConsentUnreadableError('the outbox state', describeError(error), { cause: error });
      }
      if (stored === undefined || stored === null) return undefined;
      if (isConsentState(stored)) return stored;
      throw new ConsentUnreadableError('the outbox state', `it holds ${describeValue(stored)}`);
    },
    write: (state) => outbox.setState(CONSENT_STATE_KEY, state),
  };
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function describeValue(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? `a ${typeof value}` : json.length > 40 ? `${json.slice(0, 40)}…` : json;
  } catch {
    return `a ${typeof value}`;
  }
}
