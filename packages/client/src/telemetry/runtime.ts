import type { ResolvedEndpoint } from '../delivery/deliveryOptions.js';
import type { Logger } from '../logger.js';
import type { Outbox, OutboxDurability, OutboxLimits } from '../outbox/outbox.js';
import type { SessionStore } from '../pipeline/session.js';
import type { Platform } from '../platform/platform.js';
import type { ConsentStore } from './consentStore.js';
import type { IdentityStore } from './identityStore.js';
import type { InstallIdStore } from './installId.js';
import type { OutboxTuning, StorageChoice } from './options.js';

export interface StorageRequest {
  readonly choice: StorageChoice;
  /** The app's `name`, or the one made from its endpoints (`defaultClientName`). */
  readonly name: string;
  /** Whether the app gave `name` (else a directory earlier versions shared may be taken over). */
  readonly nameGiven: boolean;
  readonly endpoints: readonly ResolvedEndpoint[];
  readonly directory: string | undefined;
  readonly durability: OutboxDurability;
  readonly limits: Partial<OutboxLimits> | undefined;
  /** Each storage takes the keys that apply to it. */
  readonly tuning: OutboxTuning | undefined;
  readonly logger: Logger;
  /**
   * The client's clock (`options.now`), which stamps each record's time: the file and memory
   * outboxes judge retention by it too, or a clock behind the real one dropped every event.
   */
  readonly now: () => number;
}

export interface CreatedStorage {
  readonly outbox: Outbox;
  /** Where the install id is kept race-free, when the storage has a better place than outbox state. */
  readonly installId?: InstallIdStore;
  /** Where `identify()`'s id is kept, when the storage has a better place than outbox state. */
  readonly identity?: IdentityStore;
  /** Where `$session_id` is kept for other tabs and page loads (browsers); default memory: a process is one session. */
  readonly session?: SessionStore;
  /**
   * Where the remembered consent is read and written, when the storage has a better place than
   * outbox state (Node: the file outbox's directory, read there even where the outbox fell back
   * to memory).
   */
  readonly consentStore?: ConsentStore;
}

/**
 * What differs between the entry points: the Node entry (`index.node.ts`) can make file
 * outboxes and the Node platform; the browser/default entry (`index.ts`) never imports
 * `node:*`, so a bundler targeting browsers does not pull them in. `createTelemetry` is the same
 * code bound to one runtime or the other.
 */
export interface TelemetryRuntime {
  /** The platform when the app passes none. */
  defaultPlatform(): Platform;
  /** The storage to use when the app names none, for this platform. */
  defaultStorage(platform: Platform): StorageChoice;
  /** Makes the outbox; throws a `TelemetryOptionError` naming `storage` when this runtime has no such storage. */
  createStorage(request: StorageRequest): CreatedStorage;
  /**
   * Where the ids of an outbox the app passed as `storage` are kept, when this runtime knows a
   * better place than its state (Node: beside a file outbox's files); else nothing.
   */
  idsFor?(outbox: Outbox): Omit<CreatedStorage, 'outbox'>;
}
