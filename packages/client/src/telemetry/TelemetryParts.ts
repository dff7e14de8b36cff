import type { DeliveryOptions } from '../delivery/deliveryOptions.js';
import type { Logger } from '../logger.js';
import type { Outbox } from '../outbox/outbox.js';
import type { SessionStore } from '../pipeline/session.js';
import type { Platform } from '../platform/platform.js';
import type { ConsentStore } from './consentStore.js';
import type { IdentityStore } from './identityStore.js';
import type { InstallIdStore } from './installId.js';
import type { TelemetryOptions } from './options.js';
import type { ResolvedTelemetryOptions } from './resolveTelemetryOptions.js';

/** What a `Telemetry` client is made of: its options, platform, storages and delivery. */
export interface TelemetryParts {
  readonly options: ResolvedTelemetryOptions;
  readonly sampling: TelemetryOptions['sampling'];
  readonly platform: Platform;
  /** true when the client made its platform (the app passed none): shutdown closes it. */
  readonly ownsPlatform?: boolean;
  readonly logger: Logger;
  readonly outbox: Outbox;
  /** false when the app passed its own Outbox: it closes it, not us. */
  readonly ownsOutbox: boolean;
  readonly installId: InstallIdStore | undefined;
  /** Where `identify()`'s id is kept across runs; default the outbox state. */
  readonly identity?: IdentityStore | undefined;
  /** Where the session is kept for other tabs and page loads; default memory. */
  readonly session?: SessionStore | undefined;
  /** Where the consent is remembered (`rememberConsent`); default the outbox state. */
  readonly consentStore?: ConsentStore | undefined;
  readonly delivery: DeliveryOptions;
}
