import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { OutboxOptionError } from '../errors.js';
import { requireInteger, resolveOutboxLimits } from '../limits.js';
import type { OutboxLimits } from '../outbox.js';
import { retentionClock } from '../retentionClock.js';
import { OUTBOX_TUNING_RANGES } from '../tuning.js';
import type { LockManagerLike } from './deliveryLock.js';
import { defaultLockManager } from './deliveryLock.js';

/** Options shared by the browser outboxes (IndexedDB and localStorage). */
export interface BrowserOutboxCommonOptions extends Partial<OutboxLimits> {
  /** Separates the outboxes of different apps on one origin; default 'default'. */
  name?: string;
  /** Longest an appended record waits in memory before it is written; default 100. 0 = next tick. */
  persistIntervalMs?: number;
  /** A group this large is written at once (next tick); default 500. */
  flushEvents?: number;
  /** Lease length where the Web Locks API is missing; default 15 000 (min 100). */
  leaseMs?: number;
  /** The Web Locks manager; default `navigator.locks`; null forces the lease. */
  locks?: LockManagerLike | null;
  /** Write what is buffered when the page is hidden or unloads; default true. */
  flushOnHide?: boolean;
  /**
   * Clock for retention, dead-letter times and leases; default `Date.now`. A jump ahead of the
   * monotonic clock does not age events (see `retentionClock.ts`).
   */
  now?: () => number;
  /** Where background write failures are reported; default silent. */
  logger?: Logger;
}

export interface ResolvedBrowserOutboxOptions {
  limits: OutboxLimits;
  name: string;
  persistIntervalMs: number;
  flushEvents: number;
  leaseMs: number;
  locks: LockManagerLike | null;
  flushOnHide: boolean;
  now: () => number;
  /** The time retention ages events as of: `now`, unless it jumped ahead (`retentionClock`). */
  retentionNow: () => number;
  logger: Logger;
}

export const BROWSER_OUTBOX_DEFAULTS = Object.freeze({
  name: 'default',
  persistIntervalMs: 100,
  flushEvents: 500,
  leaseMs: 15_000,
  flushOnHide: true,
});

export function resolveBrowserOutboxOptions(
  options: BrowserOutboxCommonOptions,
): ResolvedBrowserOutboxOptions {
  if (options === null || typeof options !== 'object')
    throw new OutboxOptionError('options', 'must be an object');
  const limits = resolveOutboxLimits(options);
  const name = options.name ?? BROWSER_OUTBOX_DEFAULTS.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 100) {
    throw new OutboxOptionError('name', `must be a string of 1 to 100 characters, got ${String(name)}`);
  }
  const persistIntervalMs = options.persistIntervalMs ?? BROWSER_OUTBOX_DEFAULTS.persistIntervalMs;
  requireInteger(
    'persistIntervalMs',
    persistIntervalMs,
    OUTBOX_TUNING_RANGES.persistIntervalMs[0],
    OUTBOX_TUNING_RANGES.persistIntervalMs[1],
  );
  if (persistIntervalMs > 60_000) throw new OutboxOptionError('persistIntervalMs', 'must be at most 60000');
  const flushEvents = options.flushEvents ?? BROWSER_OUTBOX_DEFAULTS.flushEvents;
  requireInteger(
    'flushEvents',
    flushEvents,
    OUTBOX_TUNING_RANGES.flushEvents[0],
    OUTBOX_TUNING_RANGES.flushEvents[1],
  );
  const leaseMs = options.leaseMs ?? BROWSER_OUTBOX_DEFAULTS.leaseMs;
  requireInteger('leaseMs', leaseMs, OUTBOX_TUNING_RANGES.leaseMs[0], OUTBOX_TUNING_RANGES.leaseMs[1]);
  const locks = options.locks === undefined ? defaultLockManager() : options.locks;
  if (locks !== null && (typeof locks !== 'object' || typeof locks.request !== 'function')) {
    throw new OutboxOptionError('locks', 'must be a LockManager (navigator.locks) or null');
  }
  const flushOnHide = options.flushOnHide ?? BROWSER_OUTBOX_DEFAULTS.flushOnHide;
  if (typeof flushOnHide !== 'boolean') throw new OutboxOptionError('flushOnHide', 'must be a boolean');
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new OutboxOptionError('now', 'must be a function returning ms since the epoch');
  }
  const logger = options.logger ?? silentLogger;
  if (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function') {
    throw new OutboxOptionError('logger', 'must have debug, warn and error methods');
  }
  const now = options.now ?? Date.now;
  return {
    limits,
    name,
    persistIntervalMs,
    flushEvents,
    leaseMs,
    locks,
    flushOnHide,
    now,
    retentionNow: retentionClock(now, logger),
    logger,
  };
}
