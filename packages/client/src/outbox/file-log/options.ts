import type { Logger } from '../../logger.js';
import { silentLogger } from '../../logger.js';
import { OutboxOptionError } from '../errors.js';
import { requireInteger, requireOneOf, resolveOutboxLimits } from '../limits.js';
import type { OutboxDurability, OutboxLimits } from '../outbox.js';
import { OUTBOX_TUNING_RANGES, type NumericTuningKey } from '../tuning.js';

/**
 * Options of the file outbox, with their defaults in one place (`FILE_OUTBOX_DEFAULTS`) and the
 * `OutboxLimits` defaults from `limits.ts`. Merged with `??` (0 stays 0) and validated once.
 */
export interface FileOutboxOptions extends Partial<OutboxLimits> {
  /** The outbox directory (created if missing). Processes that share it share the queue. */
  directory: string;
  /**
   * When appended records reach the disk:
   * - 'batch' (default): written (no fsync) within `persistIntervalMs`, or at once when a group
   *   reaches `flushEvents`/`flushBytes`. Survives a crash of the process; a power cut can
   *   lose what the OS had not written back yet.
   * - 'fsync': the same groups, each fsynced before `persist()` resolves. Survives power loss.
   * - 'memory': kept in memory until `persist()`, `claim()` or `close()`, or until a group
   *   reaches `flushEvents`/`flushBytes`; a crash loses what was not written.
   */
  durability?: OutboxDurability;
  /** Longest a record waits in memory under 'batch' and 'fsync'; default 100 ms. 0: next tick. */
  persistIntervalMs?: number;
  /** A group this large is written without waiting for the interval; default 1 000 events. */
  flushEvents?: number;
  /** ... or this many bytes; default 1 MiB. */
  flushBytes?: number;
  /** A segment file is sealed and a new one started past this size; default 8 MiB. */
  maxSegmentBytes?: number;
  /** How often locks and the active segment get their heartbeat; default 2 000 ms. */
  heartbeatMs?: number;
  /** A lock or `.open` segment whose heartbeat is older is taken over; default 30 000 ms. */
  staleMs?: number;
  /**
   * Memory kept for records this process wrote lately, so that claiming them does not read them
   * back from disk (`RecentFrames.ts`); default 1 MiB of event JSON. 0: every claim reads disk.
   */
  claimCacheBytes?: number;
  /**
   * Clock for retention and ages (not for lock heartbeats, which use file times); default
   * Date.now. A jump ahead of the monotonic clock does not age events (`retentionClock.ts`).
   */
  now?: () => number;
  /** Where background write failures are reported; default silent. */
  logger?: Logger;
  /**
   * Save the limits (`maxEvents`, `maxBytes`, `overflow`, `retentionMs`, `maxDeadLetters`,
   * `maxDeadLetterBytes`) in `outbox.json` at open, so tools that open the directory later
   * (`homing flush`) apply the app's limits, not their defaults; default true. A tool serving an
   * app's outbox passes false.
   */
  saveLimits?: boolean;
  /**
   * Whether watching a delivery lock that looks abandoned (its owner alive but its heartbeat
   * old, for a few heartbeats before taking it over) keeps the process alive: for a command that
   * waits for its answer (`homing flush`), which otherwise ended mid-await with nothing else
   * pending. An app's must not; default false.
   */
  keepAliveWhileWatching?: boolean;
}

export const FILE_OUTBOX_DEFAULTS = Object.freeze({
  durability: 'batch' as OutboxDurability,
  persistIntervalMs: 100,
  flushEvents: 1000,
  flushBytes: 1024 * 1024,
  maxSegmentBytes: 8 * 1024 * 1024,
  heartbeatMs: 2000,
  staleMs: 30_000,
  claimCacheBytes: 1024 * 1024,
  saveLimits: true,
  keepAliveWhileWatching: false,
});

export interface ResolvedFileOutboxOptions {
  readonly directory: string;
  readonly limits: OutboxLimits;
  readonly durability: OutboxDurability;
  readonly persistIntervalMs: number;
  readonly flushEvents: number;
  readonly flushBytes: number;
  readonly maxSegmentBytes: number;
  readonly heartbeatMs: number;
  readonly staleMs: number;
  readonly claimCacheBytes: number;
  readonly now: () => number;
  readonly logger: Logger;
  readonly saveLimits: boolean;
  readonly keepAliveWhileWatching: boolean;
}

export function resolveFileOutboxOptions(options: FileOutboxOptions): ResolvedFileOutboxOptions {
  if (options === null || typeof options !== 'object')
    throw new OutboxOptionError('options', 'must be an object');
  if (
    typeof options.directory !== 'string' ||
    options.directory.length === 0 ||
    options.directory.includes('\0')
  ) {
    throw new OutboxOptionError('directory', 'must be a non-empty path');
  }
  const d = FILE_OUTBOX_DEFAULTS;
  const resolved: ResolvedFileOutboxOptions = {
    directory: options.directory,
    limits: resolveOutboxLimits(options),
    durability: options.durability ?? d.durability,
    persistIntervalMs: options.persistIntervalMs ?? d.persistIntervalMs,
    flushEvents: options.flushEvents ?? d.flushEvents,
    flushBytes: options.flushBytes ?? d.flushBytes,
    maxSegmentBytes: options.maxSegmentBytes ?? d.maxSegmentBytes,
    heartbeatMs: options.heartbeatMs ?? d.heartbeatMs,
    staleMs: options.staleMs ?? d.staleMs,
    claimCacheBytes: options.claimCacheBytes ?? d.claimCacheBytes,
    now: options.now ?? Date.now,
    logger: options.logger ?? silentLogger,
    saveLimits: options.saveLimits ?? d.saveLimits,
    keepAliveWhileWatching: options.keepAliveWhileWatching ?? d.keepAliveWhileWatching,
  };
  requireOneOf('durability', resolved.durability, ['batch', 'fsync', 'memory'] as const);
  // The tuning options this outbox has a default for are the ones it uses.
  for (const key of Object.keys(OUTBOX_TUNING_RANGES) as NumericTuningKey[]) {
    if (!(key in d)) continue;
    const [min, max] = OUTBOX_TUNING_RANGES[key];
    requireInteger(key, resolved[key as keyof typeof d & NumericTuningKey], min, max);
  }
  if (resolved.staleMs < resolved.heartbeatMs * 3) {
    throw new OutboxOptionError(
      'staleMs',
      `must be at least 3 × heartbeatMs (${resolved.heartbeatMs * 3}), got ${resolved.staleMs}`,
    );
  }
  if (typeof resolved.saveLimits !== 'boolean')
    throw new OutboxOptionError('saveLimits', 'must be a boolean');
  if (typeof resolved.keepAliveWhileWatching !== 'boolean')
    throw new OutboxOptionError('keepAliveWhileWatching', 'must be a boolean');
  if (typeof resolved.now !== 'function')
    throw new OutboxOptionError('now', 'must be a function returning ms since the epoch');
  const logger = resolved.logger as Partial<Logger>;
  if (typeof logger !== 'object' || typeof logger.warn !== 'function' || typeof logger.debug !== 'function') {
    throw new OutboxOptionError('logger', 'must have debug, warn and error methods');
  }
  return resolved;
}
