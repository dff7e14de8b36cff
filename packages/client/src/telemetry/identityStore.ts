import type { Outbox } from '../outbox/outbox.js';
import type { ConsentState } from './options.js';
import { distinctIdProblem } from './distinctIdProblem.js';

/**
 * Where the distinct id given to `identify()` is kept across runs, so a CLI's next invocation,
 * or a page's next load, still reports as that user until `reset()` (PostHog's and Segment's
 * browser SDKs keep it the same way). The `distinctId` option, when given, wins over it.
 */
export interface IdentityStore {
  /** The kept id, or undefined; a Promise where the storage answers asynchronously. */
  read(): string | undefined | Promise<string | undefined>;
  /** Keeps `id`, or forgets it (undefined). */
  write(id: string | undefined): Promise<void>;
  /**
   * The consent remembered in the same storage, read synchronously (undefined when none is):
   * at exit, before the client read it, whether an id `identify()` held may be written. Stores
   * that cannot leave it out, and such an id is then not written.
   */
  rememberedConsentNow?(): unknown;
  /**
   * Keeps a synchronous copy of the consent just remembered in the outbox state, where the
   * outbox itself answers only asynchronously (browsers: localStorage beside IndexedDB), so the
   * next load knows of a denial before it would make an install id. Never throws.
   */
  keepConsentCopy?(state: ConsentState): void;
}

/** The outbox state key of the kept identity (where no better place exists). */
export const IDENTITY_STATE_KEY = 'identity';

/**
 * An id as `identify` stores it: what `checkDistinctId` accepts, already trimmed (a placeholder
 * an earlier version kept, 'undefined', is not restored).
 */
export function isKeptIdentity(value: unknown): value is string {
  return typeof value === 'string' && value.trim() === value && distinctIdProblem(value) === undefined;
}

/** The identity in the outbox's state (memory, IndexedDB, localStorage or a custom outbox). */
export function outboxIdentityStore(outbox: Outbox): IdentityStore {
  return {
    async read() {
      const kept = await outbox.getState<unknown>(IDENTITY_STATE_KEY);
      return isKeptIdentity(kept) ? kept : undefined;
    },
    write: (id) => outbox.setState(IDENTITY_STATE_KEY, id),
  };
}
