import type { ConsentState, Outbox } from '@homing/client';
import {
  CONSENT_HOLD_STATE_KEY,
  consentFile,
  ConsentUnreadableError,
  parseConsentHold,
} from '@homing/client';
import { CommandError } from './outboxCommand.js';

/** How often a flush reads the consent the app remembers, ms: a denial meanwhile stops it. */
const CONSENT_RECHECK_MS = 250;

/**
 * The app keeps events while its user's consent is pending (`setConsent('pending')`, saved in
 * the outbox, or its `consent` option, which it marks there as held): sending them from here
 * would overrule that user.
 */
export async function refuseWithoutConsent(
  directory: string,
  outbox: Pick<Outbox, 'getState'>,
): Promise<void> {
  const remembered = await rememberedConsent(directory);
  const consent =
    remembered === 'pending' || remembered === 'denied'
      ? remembered
      : parseConsentHold(await outbox.getState(CONSENT_HOLD_STATE_KEY)) !== null
        ? 'pending'
        : remembered;
  if (consent !== 'pending' && consent !== 'denied') return;
  throw new CommandError(
    `the app that writes this outbox holds its events until its user consents (consent is ${consent}); nothing was sent`,
    consent === 'pending'
      ? 'the events go out once the app calls setConsent("granted"); they stay in the outbox until then'
      : 'the app cleared what it held when consent was denied; what is left is not to be sent',
  );
}

/**
 * The consent the app remembers in the outbox directory, read strictly, as the app reads it:
 * one that is stored but cannot be read (a damaged file, an I/O error) may be a denial, so
 * nothing is sent from here while it is so (the app holds its events too).
 */
async function rememberedConsent(directory: string): Promise<ConsentState | undefined> {
  try {
    return await consentFile(directory).read();
  } catch (error) {
    if (!(error instanceof ConsentUnreadableError)) throw error;
    throw new CommandError(
      `${error.message}; nothing was sent: it may say the app's user denied consent`,
      `the app holds its events until it can read it, and writes it again at its next setConsent(); remove ${error.where} only if no user of this install ever denied consent`,
    );
  }
}

export interface ConsentWithdrawn {
  consent: string;
  sent: number;
}

/**
 * Resolves once the consent the app remembers in the outbox is pending or denied, or can no
 * longer be read (it may be a denial), or an app marks its events held for consent (an app
 * started under a `consent: 'pending'` option while this ran).
 */
export function consentWithdrawn(
  directory: string,
  outbox: Pick<Outbox, 'getState'>,
): {
  promise: Promise<ConsentWithdrawn>;
  stop: () => void;
} {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const promise = new Promise<ConsentWithdrawn>((resolve) => {
    const check = async () => {
      try {
        const consent = await consentFile(directory).read();
        if (consent === 'pending' || consent === 'denied') return resolve({ consent, sent: 0 });
        const held = await outbox.getState(CONSENT_HOLD_STATE_KEY).catch(() => undefined);
        if (parseConsentHold(held) !== null) return resolve({ consent: 'pending', sent: 0 });
      } catch (error) {
        if (error instanceof ConsentUnreadableError) return resolve({ consent: 'unreadable', sent: 0 });
        // Not one of reading it (those, EMFILE included, are ConsentUnreadableError and stop the
        // flush above): read again next time.
      }
      if (!stopped) timer = setTimeout(() => void check(), CONSENT_RECHECK_MS);
    };
    timer = setTimeout(() => void check(), CONSENT_RECHECK_MS);
  });
  return {
    promise,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
