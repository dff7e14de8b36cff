import type { DeadLetter, OutboxLimits } from '../outbox.js';
import { normalizeRecord } from '../records.js';
import { toFrameRecord } from './Admission.js';
import type { EncodableRecord } from './frame.js';

export interface RequeueContext {
  /** The time of the replay: the queue time the records get. */
  readonly nowMs: number;
  readonly limits: OutboxLimits;
  /** Room for one more record of `jsonBytes` (drop-newest). */
  readonly fits: (jsonBytes: number) => boolean;
  /** Queues one record (the append buffer). */
  readonly push: (record: EncodableRecord) => void;
}

/**
 * Puts dead letters back in the queue (a replay, asked for by the user): stamped with the time
 * of the replay, so retention counts from now and does not drop an old event the moment it is
 * replayed (its JSON keeps its own timestamp). Answers the ones queued: not those over
 * `maxBytes`, nor, under 'drop-newest', those the queue has no room for. Only those may then
 * leave the dead-letter store (`DeadLetterFile.take`).
 */
export function requeueDeadLetters(deadLetters: readonly DeadLetter[], ctx: RequeueContext): DeadLetter[] {
  const { nowMs, limits } = ctx;
  const queued: DeadLetter[] = [];
  for (const d of deadLetters) {
    const record = normalizeRecord(d.record, nowMs);
    if (record === null) continue;
    const framed = toFrameRecord(record, limits.maxBytes);
    if (typeof framed === 'string') continue;
    if (limits.overflow === 'drop-newest' && !ctx.fits(framed.jsonBytes)) continue;
    ctx.push({ ...framed, timestampMs: nowMs });
    queued.push(d);
  }
  return queued;
}
