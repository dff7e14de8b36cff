import type { Logger } from '../../logger.js';
import { OutboxIoError } from '../errors.js';
import type { Pending } from '../indexeddb/WriteBuffer.js';
import type { DeadLetter, OutboxLimits, OutboxRecord } from '../outbox.js';
import type { DropListeners } from '../records.js';
import { utf8Length } from '../records.js';
import { appendAsHolder } from './appendAsHolder.js';
import type { ChunkEntry } from './chunks.js';
import { isStorageFull } from './chunks.js';
import type { ChunkStore } from './ChunkStore.js';

export interface GroupWriterContext {
  readonly limits: OutboxLimits;
  readonly chunkChars: number;
  readonly isClaimed: (key: string, index: number) => boolean;
  readonly drops: DropListeners;
  readonly logger: Logger;
  /**
   * Takes what a full storage refused (no stored record is removed to make room for it: the
   * quota is not the outbox's bound); the page may still deliver it (`HeldInMemory`).
   */
  readonly hold: (group: readonly Pending[], refusal: unknown) => void;
}

/**
 * How the localStorage outbox stores a group of records: as the lock holder, who may drop, trim
 * and rewrite chunks (`appendAsHolder`), or as any other tab, in a chunk of its own that the
 * holder later brings within the limits.
 */
export class GroupWriter {
  constructor(
    private readonly chunks: ChunkStore,
    private readonly ctx: GroupWriterContext,
  ) {}

  /** Appends as the lock holder (who may drop, trim and rewrite chunks); answers what was stored. */
  asHolder(group: Pending[], keepsRefused = false): Set<Pending> {
    const { limits, chunkChars, isClaimed, drops, logger, hold } = this.ctx;
    return appendAsHolder(this.chunks, group, {
      keepsRefused,
      limits,
      chunkChars,
      isClaimed,
      drops,
      logger,
      hold,
    });
  }

  /**
   * Not the lock holder: a chunk of its own; the holder enforces the limits later. Only the
   * holder may remove older records, so a full storage leaves the group with this tab (`hold`):
   * it delivers them itself, and hands them over once there is room.
   */
  foreign(group: readonly Pending[]): void {
    try {
      this.chunks.writeNew(group.map(({ record, bytes }) => toEntry(record, bytes)));
    } catch (error) {
      if (!isStorageFull(error)) throw new OutboxIoError('append', { cause: error });
      this.ctx.hold(group, error);
    }
  }

  /**
   * Writes dead letters to the queue as the lock holder (see `replayDeadLetters`), stamped with
   * `nowMs`; answers those stored. One whose uuid is queued already is answered without a write:
   * a replay is two writes (the chunks, then the dead-letter key), and a page that died between
   * them left the records both queued and dead letters, which the next replay queued twice.
   */
  requeue(deadLetters: readonly DeadLetter[], nowMs: number): Set<DeadLetter> {
    const group = new Map<Pending, DeadLetter>();
    const queued = new Set<string>();
    this.chunks.refresh(true);
    this.chunks.forEach((_chunk, _index, entry) => {
      queued.add(entry.uuid);
      return true;
    });
    const already = new Set<DeadLetter>();
    for (const dl of deadLetters) {
      const { uuid, json } = dl.record;
      if (queued.has(uuid)) {
        already.add(dl);
        continue;
      }
      const bytes = utf8Length(json);
      if (bytes <= this.ctx.limits.maxBytes)
        group.set({ record: { uuid, json, timestampMs: nowMs }, bytes }, dl);
    }
    let stored: Set<Pending>;
    try {
      stored = this.asHolder([...group.keys()], true);
    } catch (error) {
      this.chunks.invalidate();
      throw error;
    }
    for (const p of stored) already.add(group.get(p)!);
    return already;
  }
}

function toEntry(record: OutboxRecord, bytes: number): ChunkEntry {
  return { uuid: record.uuid, json: record.json, timestampMs: record.timestampMs, bytes };
}
